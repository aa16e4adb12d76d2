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

#[cfg(test)]
mod tests {
    use super::*;

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
