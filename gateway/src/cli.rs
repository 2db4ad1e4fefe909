//! The command line: `authgate serve | migrate | project create | key
//! create`, one function a command.

use std::sync::Arc;

use clap::{Parser, Subcommand};

use authgate_core::{Clock, Scope, SystemClock};

use crate::config::Config;
use crate::server::{Server, ensure_first_project, open_store};

#[derive(Parser)]
#[command(
    name = "authgate",
    version,
    about = "Self-hostable auth platform with an MCP control plane"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run migrations, create a first project on an empty database, and serve.
    Serve,
    /// Run the database migrations and exit.
    Migrate,
    /// Manage projects.
    Project {
        #[command(subcommand)]
        command: ProjectCommand,
    },
    /// Manage API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Sign in to the admin pages (OAuth consent, the dashboard) in a browser.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Read the development mailbox (mail written to files when SMTP_URL is
    /// not set).
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// GET /healthz of a running gateway (a container's HEALTHCHECK, which
    /// has no shell): exit 0 on 200 within 2 s, 1 otherwise.
    Healthcheck {
        /// Default: http:// and AUTHGATE_BIND, 0.0.0.0 read as 127.0.0.1.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Print a one-time sign-in link (10 minutes) for the operator: every
    /// project, or the one named.
    Login {
        #[arg(long)]
        project: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum MailCommand {
    /// The newest mails, newest first: id, time, recipient, subject.
    List {
        /// Only mail to this address.
        #[arg(long)]
        to: Option<String>,
        /// How many at most.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One mail's headers and text.
    Show {
        /// The mail's id (eml_...), from `authgate mail list`.
        id: String,
    },
}

#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Create a project and print its id and admin API key.
    Create {
        #[arg(long)]
        name: String,
        /// live or test (decides the key prefix ag_live_ / ag_test_).
        #[arg(long, default_value = "live")]
        environment: String,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an API key for a project and print it once.
    Create {
        #[arg(long)]
        project: String,
        /// Comma-separated: read, write, admin.
        #[arg(long, default_value = "read", value_delimiter = ',')]
        scopes: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated tool names or group:<name> entries.
        #[arg(long, value_delimiter = ',')]
        tools: Option<Vec<String>>,
    },
}

fn print_connect(config: &Config, key: &str) {
    println!("Connect Claude Code:");
    println!(
        "  claude mcp add --transport http authgate {}/api/mcp --header \"Authorization: Bearer {key}\"",
        config.public_url
    );
}

/// Runs one command to its end.
pub async fn run(cli: Cli) -> Result<(), String> {
    // Before the configuration: a health check needs none of it.
    if let Command::Healthcheck { url } = &cli.command {
        return crate::healthcheck::run(url.as_deref()).await;
    }
    let config = Config::from_env()?;
    let _log = crate::logging::init(config.log_format);
    match cli.command {
        Command::Migrate => {
            open_store(&config).await?;
            println!("migrations are up to date");
            Ok(())
        }
        Command::Serve => serve(config).await,
        Command::Project {
            command: ProjectCommand::Create { name, environment },
        } => project_create(&config, &name, &environment).await,
        Command::Key {
            command:
                KeyCommand::Create {
                    project,
                    scopes,
                    name,
                    tools,
                },
        } => key_create(&config, &project, &scopes, name, tools).await,
        Command::Mail { command } => mail(&config, command),
        Command::Admin {
            command: AdminCommand::Login { project },
        } => admin_login(&config, project.as_deref()).await,
        Command::Healthcheck { url } => crate::healthcheck::run(url.as_deref()).await,
    }
}

fn mail(config: &Config, command: MailCommand) -> Result<(), String> {
    let mailbox = authgate_email::devbox::DevMailbox::new(config.dev_mailbox());
    let where_ = || format!("the development mailbox {}", mailbox.dir().display());
    match command {
        MailCommand::List { to, limit } => {
            let mails = mailbox
                .list(to.as_deref(), limit)
                .map_err(|e| format!("reading {}: {e}", where_()))?;
            if mails.is_empty() {
                println!("no mail in {}", where_());
            }
            for m in mails {
                println!("{}  {}  {}  {}", m.id, m.date, m.to, m.subject);
            }
            Ok(())
        }
        MailCommand::Show { id } => {
            let m = mailbox
                .show(&id)
                .map_err(|e| format!("reading {id} from {}: {e}", where_()))?;
            println!(
                "Date: {}\nTo: {}\nSubject: {}\n\n{}",
                m.date, m.to, m.subject, m.text
            );
            Ok(())
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let store = open_store(&config).await?;
    let secret = config.resolve_secret()?;
    if let Some((project, key)) = ensure_first_project(&store).await? {
        println!("Created project {} ({}).", project.id, project.name);
        println!("Its admin API key, shown this once:");
        println!("  {}", key.key);
        print_connect(&config, &key.key);
    }
    if config.smtp_url.is_none() {
        println!(
            "Mail: SMTP_URL is not set, so mail is written to {}; read it with `authgate mail list` and `authgate mail show ID`.",
            config.dev_mailbox().display()
        );
    }
    let server = Server::start(config.clone(), store, &secret, Arc::new(SystemClock))
        .await
        .map_err(|e| format!("starting the server on {}: {e}", config.bind))?;
    tracing::info!(addr = %server.addr, stateless = config.stateless, "AuthGate is serving MCP at {}/api/mcp", config.public_url);
    server
        .wait(shutdown_signal())
        .await
        .map_err(|e| format!("server failed: {e}"))
}

async fn admin_login(config: &Config, project: Option<&str>) -> Result<(), String> {
    let store = open_store(config).await?;
    let now = SystemClock.now();
    let token = authgate_oauth::flows::create_link(&store, project, now)
        .await
        .map_err(|e| e.to_string())?;
    println!("Open this link within 10 minutes (it works once):");
    println!(
        "  {}/admin/login?token={token}",
        config.public_url.trim_end_matches('/')
    );
    Ok(())
}

async fn project_create(config: &Config, name: &str, environment: &str) -> Result<(), String> {
    let store = open_store(config).await?;
    let now = SystemClock.now();
    let (project, key) = store
        .write(async |conn| authgate_project::create_project(conn, name, environment, now).await)
        .await
        .map_err(|e| e.to_string())?;
    println!("project: {}", project.id);
    println!("admin key (shown once): {}", key.key);
    print_connect(config, &key.key);
    Ok(())
}

async fn key_create(
    config: &Config, project: &str, scopes: &[String], name: Option<String>,
    tools: Option<Vec<String>>,
) -> Result<(), String> {
    let scopes = scopes
        .iter()
        .map(|s| {
            Scope::parse(s.trim())
                .ok_or_else(|| format!("--scopes: '{s}' is not read, write or admin"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let registry = crate::registry()?;
    let request = authgate_project::KeyRequest {
        name,
        scopes: Some(scopes),
        tools,
    };
    let new = authgate_project::validate_new_key(
        authgate_project::Issuer::Operator,
        registry.catalog(),
        request,
    )
    .map_err(|e| format!("--{}: {}", e.field.as_deref().unwrap_or("key"), e.message))?;
    let store = open_store(config).await?;
    let settings = authgate_project::KeySettings {
        max_active_keys: config.max_active_keys,
    };
    let now = SystemClock.now();
    let key = store
        .write(async |conn| {
            authgate_project::create_api_key(conn, project, new, settings, now).await
        })
        .await
        .map_err(|e| e.to_string())?;
    println!("key id: {}", key.id);
    println!("key (shown once): {}", key.key);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
