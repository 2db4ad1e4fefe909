//! The development mailbox: with no SMTP server configured, the delivery
//! worker writes each message as an `.eml` file (the exact bytes it would
//! have sent) into a folder, keeping the newest [`KEEP`]; `authgate mail
//! list` and `authgate mail show` read them back. A developer who starts
//! AuthGate with nothing else can still read a verification code.

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;

/// How many messages the folder keeps (the oldest go first).
pub const KEEP: usize = 1000;

/// A message of the development mailbox, as read back from its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevMail {
    /// The outbox id (`eml_...`), also the file's name.
    pub id: String,
    /// The `Date` header.
    pub date: String,
    pub to: String,
    pub subject: String,
    /// The plain-text part.
    pub text: String,
}

/// A folder of `.eml` files.
#[derive(Debug, Clone)]
pub struct DevMailbox {
    dir: PathBuf,
}

impl DevMailbox {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one message (whole, then renamed into place, so a reader
    /// never sees half of one) and drops the oldest beyond [`KEEP`].
    pub fn store(&self, id: &str, message: &[u8]) -> io::Result<()> {
        let name = file_name(id)?;
        std::fs::create_dir_all(&self.dir)?;
        let partial = self.dir.join(format!(".{name}.part"));
        std::fs::write(&partial, message)?;
        std::fs::rename(&partial, self.dir.join(&name))?;
        let names = self.names()?;
        for old in names.iter().take(names.len().saturating_sub(KEEP)) {
            match std::fs::remove_file(self.dir.join(old)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// The newest `limit` messages, newest first; with `to`, only those to
    /// that address (compared without case).
    pub fn list(&self, to: Option<&str>, limit: usize) -> io::Result<Vec<DevMail>> {
        let mut out = Vec::new();
        for name in self.names()?.iter().rev() {
            if out.len() == limit {
                break;
            }
            let Ok(raw) = std::fs::read_to_string(self.dir.join(name)) else {
                continue; // dropped meanwhile
            };
            let mail = parse(name.trim_end_matches(".eml"), &raw);
            if to.is_none_or(|t| mail.to.to_lowercase().contains(&t.trim().to_lowercase())) {
                out.push(mail);
            }
        }
        Ok(out)
    }

    /// One message by its id.
    pub fn show(&self, id: &str) -> io::Result<DevMail> {
        let raw = std::fs::read_to_string(self.dir.join(file_name(id)?))?;
        Ok(parse(id, &raw))
    }

    /// The `.eml` files, oldest first (ids sort by time).
    fn names(&self) -> io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".eml") && !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }
}

/// The file of an id; anything but an id's letters is refused (no path
/// can be named through it).
fn file_name(id: &str) -> io::Result<String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{id}' is not a mail id (eml_...); `authgate mail list` shows them"),
        ));
    }
    Ok(format!("{id}.eml"))
}

/// The headers (unfolded) and the plain-text part of a message as the
/// worker builds it (multipart/alternative, base64 parts).
fn parse(id: &str, raw: &str) -> DevMail {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let header = |name: &str| {
        unfolded
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| decode_words(v.trim()))
            })
            .unwrap_or_default()
    };
    DevMail {
        id: id.to_owned(),
        date: header("Date"),
        to: header("To"),
        subject: header("Subject"),
        text: text_part(body).unwrap_or_default(),
    }
}

/// The decoded `text/plain` part.
fn text_part(body: &str) -> Option<String> {
    let start = body.find("Content-Type: text/plain")?;
    let rest = &body[start..];
    let part_body = &rest[rest.find("\r\n\r\n")? + 4..];
    let encoded: String = part_body
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// RFC 2047 encoded words (`=?utf-8?b?...?=`), as the mail library writes
/// headers that are not ASCII; anything else is returned as it is.
fn decode_words(value: &str) -> String {
    let words: Vec<&str> = value.split_whitespace().collect();
    let encoded = |w: &str| {
        let lower = w.to_ascii_lowercase();
        (lower.starts_with("=?utf-8?b?") && w.ends_with("?="))
            .then(|| {
                base64::engine::general_purpose::STANDARD
                    .decode(&w[10..w.len() - 2])
                    .ok()
            })
            .flatten()
    };
    if words.is_empty() || !words.iter().all(|w| encoded(w).is_some()) {
        return value.to_owned();
    }
    let bytes: Vec<u8> = words.iter().filter_map(|w| encoded(w)).flatten().collect();
    String::from_utf8(bytes).unwrap_or_else(|_| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(to: &str, subject: &str, text: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        format!(
            "From: a@b\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\nContent-Type: multipart/alternative; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--X--\r\n"
        )
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("authgate-devbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn messages_are_listed_newest_first_filtered_and_shown() {
        let dir = temp_dir("list");
        let box_ = DevMailbox::new(&dir);
        assert_eq!(box_.list(None, 10).expect("empty"), vec![]);
        box_.store(
            "eml_01",
            message("ada@example.com", "First", "code 111111").as_bytes(),
        )
        .expect("store");
        box_.store(
            "eml_02",
            message("bob@example.com", "=?utf-8?b?w4l0w6k=?=", "hello").as_bytes(),
        )
        .expect("store");
        let all = box_.list(None, 10).expect("list");
        assert_eq!(
            all.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["eml_02", "eml_01"]
        );
        assert_eq!(all[0].subject, "Été");
        let ada = box_.list(Some("ADA@example.com"), 10).expect("list");
        assert_eq!(ada.len(), 1);
        assert_eq!(ada[0].text, "code 111111");
        assert_eq!(box_.show("eml_01").expect("show").subject, "First");
        assert!(box_.show("../secret").is_err());
        assert!(box_.show("eml_09").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_the_newest_are_kept() {
        let dir = temp_dir("keep");
        let box_ = DevMailbox::new(&dir);
        for i in 0..KEEP + 5 {
            box_.store(&format!("eml_{i:06}"), b"To: x@y\r\n\r\n")
                .expect("store");
        }
        let names = box_.names().expect("names");
        assert_eq!(names.len(), KEEP);
        assert_eq!(names[0], "eml_000005.eml");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
