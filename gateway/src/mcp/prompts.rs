//! MCP prompts: the four examples of AuthGate's public page, each with
//! arguments for what it names (a framework, an organization, a user), so
//! an assistant's user can start from them with their own values.

use rmcp::ErrorData;
use rmcp::model::{GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Role};

struct Example {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    /// (name, description, required, default)
    arguments: &'static [(&'static str, &'static str, bool, &'static str)],
    /// The request, with `{argument}` for each argument.
    text: &'static str,
}

const EXAMPLES: &[Example] = &[
    Example {
        name: "set_up_project",
        title: "Set up an auth project",
        description: "Billing plans, roles, social sign-in and the SDK setup in one go.",
        arguments: &[
            (
                "framework",
                "The app's framework: nextjs, react, node or react-native.",
                false,
                "nextjs",
            ),
            (
                "providers",
                "Social sign-in providers to enable.",
                false,
                "Google and GitHub",
            ),
        ],
        text: "Set up my auth project: create Free, Pro ($19/mo), and Enterprise ($99/mo) billing plans. \
               Add admin, editor, and viewer roles. Enable {providers} auth. Then show me the {framework} SDK setup.",
    },
    Example {
        name: "weekly_review",
        title: "Review new users and alerts",
        description: "Who signed up lately, and which security alerts need attention.",
        arguments: &[("period", "How far back to look.", false, "this week")],
        text: "Show me all users who signed up {period} and check if any security alerts need attention.",
    },
    Example {
        name: "set_up_organization",
        title: "Set up an organization with RBAC",
        description: "An organization, its members, and RBAC resources for its data.",
        arguments: &[
            ("name", "The organization's name.", true, ""),
            (
                "members",
                "Who to add (emails), or how many members.",
                false,
                "3 members",
            ),
            (
                "resources",
                "RBAC resources to create.",
                false,
                "posts and comments",
            ),
        ],
        text: "Create an organization called '{name}', add {members}, and set up RBAC with {resources} resources.",
    },
    Example {
        name: "gdpr_export",
        title: "Export a user's data (GDPR)",
        description: "Everything AuthGate holds on one user, and a check of their token.",
        arguments: &[
            (
                "user",
                "The end user: an id (usr_...) or an email address.",
                true,
                "",
            ),
            (
                "token",
                "An access token of theirs to verify.",
                false,
                "their JWT token",
            ),
        ],
        text: "Export user data of {user} for GDPR compliance and verify that {token} is valid.",
    },
];

/// What prompts/list shows.
pub fn list() -> Vec<Prompt> {
    EXAMPLES
        .iter()
        .map(|e| {
            let args = e
                .arguments
                .iter()
                .map(|(name, description, required, _)| {
                    PromptArgument::new(*name)
                        .with_description(*description)
                        .with_required(*required)
                })
                .collect();
            let mut prompt = Prompt::new(e.name, Some(e.description), Some(args));
            prompt.title = Some(e.title.to_owned());
            prompt
        })
        .collect()
}

/// The prompt `name` with `arguments` filled in: a missing required one,
/// an unknown one or a value that is not a string is refused naming it.
pub fn get(name: &str, arguments: Option<&JsonObject>) -> Result<GetPromptResult, ErrorData> {
    let example = EXAMPLES.iter().find(|e| e.name == name).ok_or_else(|| {
        let known: Vec<&str> = EXAMPLES.iter().map(|e| e.name).collect();
        ErrorData::invalid_params(
            format!(
                "no prompt '{}'; prompts/list shows {}",
                authgate_core::truncate(name, 64),
                known.join(", ")
            ),
            None,
        )
    })?;
    let empty = JsonObject::new();
    let given = arguments.unwrap_or(&empty);
    if let Some(unknown) = given
        .keys()
        .find(|k| !example.arguments.iter().any(|a| a.0 == k.as_str()))
    {
        return Err(ErrorData::invalid_params(
            format!(
                "prompt {name} has no argument '{}'",
                authgate_core::truncate(unknown, 64)
            ),
            None,
        ));
    }
    let mut text = example.text.to_owned();
    for (arg, _, required, default) in example.arguments {
        let value = match given.get(*arg) {
            Some(serde_json::Value::String(v)) if !v.trim().is_empty() => {
                authgate_core::truncate(v.trim(), 200)
            }
            Some(serde_json::Value::String(_)) | None if !required => (*default).to_owned(),
            Some(serde_json::Value::String(_)) | None => {
                return Err(ErrorData::invalid_params(
                    format!("prompt {name} needs the argument '{arg}'"),
                    None,
                ));
            }
            Some(_) => {
                return Err(ErrorData::invalid_params(
                    format!("prompt {name}: argument '{arg}' must be a string"),
                    None,
                ));
            }
        };
        text = text.replace(&format!("{{{arg}}}"), &value);
    }
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(example.description),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_has_its_argument() {
        for e in EXAMPLES {
            for (arg, ..) in e.arguments {
                assert!(e.text.contains(&format!("{{{arg}}}")), "{}: {arg}", e.name);
            }
            let mut args = JsonObject::new();
            for (arg, ..) in e.arguments {
                args.insert((*arg).to_owned(), serde_json::json!("X"));
            }
            let got = get(e.name, Some(&args)).expect("fills");
            let rendered = serde_json::to_string(&got.messages).expect("json");
            for (arg, ..) in e.arguments {
                assert!(
                    !rendered.contains(&format!("{{{arg}}}")),
                    "{}: {rendered}",
                    e.name
                );
            }
        }
        assert!(
            get("set_up_organization", None).is_err(),
            "name is required"
        );
        assert!(get("nope", None).is_err());
    }
}
