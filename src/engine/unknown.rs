//! `--check` does not run steps that change things, so what they would
//! register is unknown. Later steps still render, showing `<name.field>`.

use std::fmt;
use std::sync::Arc;

use minijinja::Value;
use minijinja::value::Object;

/// A registered value that is only known once the step really runs.
#[derive(Debug)]
pub(super) struct Unknown(String);

impl Unknown {
    /// The placeholder for `register: name`.
    pub fn value(name: &str) -> Value {
        Value::from_object(Unknown(name.to_owned()))
    }
}

impl Object for Unknown {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(format!("<{}.{key}>", self.0)))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}
