//! Secrets never print: the one place that knows the secret values of a
//! run and masks them, in every shape they take on their way out, in any
//! text or serializable value (events, summaries, errors).

/// Masks known secret values in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

/// What a secret is replaced with.
pub const MASK: &str = "********";

impl Redactor {
    /// A redactor for these values (empty and very short ones are ignored,
    /// as masking them would garble ordinary text). A value is masked in
    /// every shape it may take on its way out: whole, line by line (output
    /// arrives a line at a time), shell-quoted (as a command shows it, up to three levels deep) and
    /// JSON-escaped (as `to_json` writes it).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .flat_map(|secret| {
                let mut shapes: Vec<String> = secret.lines().map(|l| l.trim().to_owned()).collect();
                // Quoted for the shell, and that quoted again (`sh -c '...'`).
                let mut quoted = secret.clone();
                for _ in 0..3 {
                    quoted = quoted.replace('\'', "'\\''");
                    shapes.push(quoted.clone());
                }
                let escaped = serde_json::to_string(&secret).expect("a string serializes");
                shapes.push(escaped[1..escaped.len() - 1].to_owned());
                shapes.push(secret);
                shapes
            })
            .filter(|s| s.len() >= 3)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// `text` with every secret masked.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    fn apply_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = self.apply(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.apply_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.apply_json(v)),
            _ => {}
        }
    }

    /// `value` with every secret in any of its texts masked, through its
    /// JSON form (which has every text it holds).
    pub fn masked<T: serde::Serialize + serde::de::DeserializeOwned>(&self, value: &T) -> T {
        let mut json = serde_json::to_value(value).expect("it serializes");
        self.apply_json(&mut json);
        serde_json::from_value(json).expect("masked, it has the same shape")
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// Query parameters whose value is a credential.
const SECRET_PARAMETERS: [&str; 12] = [
    "token",
    "access_token",
    "auth",
    "auth_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "password",
    "sig",
    "signature",
    "code",
];

/// The credentials inside the URLs in `text`, secret by their shape
/// whatever the variable holding them is called: a URL's userinfo (its
/// password, and a user name that is a token, as in
/// `https://ghp_...@github.com`), the values of token-like query
/// parameters, and the secret path of a Slack or Discord webhook (or any
/// path under `/hooks/` or `/webhooks/`).
pub fn url_credentials(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let after = &rest[at + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || "\"'<>`".contains(c))
            .unwrap_or(after.len());
        let url = &after[..end];
        rest = &after[end..];
        let (authority, path) = url.split_at(url.find(['/', '?', '#']).unwrap_or(url.len()));
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            match userinfo.split_once(':') {
                Some((user, password)) => {
                    found.push(password.to_owned());
                    if looks_like_token(user) {
                        found.push(user.to_owned());
                    }
                }
                None => found.push(userinfo.to_owned()),
            }
        }
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        for pair in query.split(['&', ';']) {
            if let Some((name, value)) = pair.split_once('=')
                && SECRET_PARAMETERS.contains(&name.to_ascii_lowercase().as_str())
            {
                found.push(value.split('#').next().unwrap_or(value).to_owned());
            }
        }
        let path = path.split('#').next().unwrap_or(path);
        for marker in ["/services/", "/hooks/", "/webhooks/"] {
            if let Some((_, secret)) = path.split_once(marker) {
                found.push(secret.trim_end_matches('/').to_owned());
            }
        }
    }
    found.retain(|s| s.len() >= 3);
    found
}

/// A user name that is a token (a long run of letters, digits, `_`, `-`).
fn looks_like_token(user: &str) -> bool {
    user.len() >= 20
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_found_by_their_shape() {
        let cases = [
            (
                "https://user:s3cret-pass@example.org/x.git",
                vec!["s3cret-pass"],
            ),
            (
                "https://ghp_0123456789abcdefABCDEF0123456789@github.com/w3c/wptdash",
                vec!["ghp_0123456789abcdefABCDEF0123456789"],
            ),
            (
                "clone https://x-access-token:tok123@github.com/a/b and more",
                vec!["tok123"],
            ),
            (
                "https://api.example.org/notify?channel=ops&token=abcdef123&x=1",
                vec!["abcdef123"],
            ),
            (
                "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX",
                vec!["T000/B000/XXXXXXXXXXXX"],
            ),
            (
                "https://discord.com/api/webhooks/1234/abcdefTOKEN",
                vec!["1234/abcdefTOKEN"],
            ),
            ("git://127.0.0.1:9418/origin.git", vec![]),
            ("https://github.com/w3c/wptdash.git", vec![]),
        ];
        for (text, want) in cases {
            assert_eq!(url_credentials(text), want, "{text}");
        }
    }

    #[test]
    fn a_secret_is_masked_shell_quoted_and_json_escaped_too() {
        let redactor = Redactor::new(["it's \"x\"".to_owned()]);
        assert_eq!(
            redactor.apply("echo 'it'\\''s \"x\"' and {\"p\": \"it's \\\"x\\\"\"}"),
            "echo '********' and {\"p\": \"********\"}"
        );
    }

    #[test]
    fn every_line_of_a_multi_line_secret_is_masked() {
        let redactor =
            Redactor::new(["-----BEGIN KEY-----\nAAAAsecretline\n-----END KEY-----\n".to_owned()]);
        assert_eq!(
            redactor.apply("got AAAAsecretline here"),
            "got ******** here"
        );
    }
}
