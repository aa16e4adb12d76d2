//! `--check` does not run steps that change things, so what they would
//! register is unknown. Later steps still render, showing `<name.field>`.

use std::fmt;
use std::sync::Arc;

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};

/// A registered value that is only known once the step really runs. Its
/// fields are unknown too; as a list (`| join(',')`) it is one item, its name.
#[derive(Debug)]
pub struct Unknown(String);

impl Unknown {
    /// The placeholder for `register: name`.
    pub fn value(name: &str) -> Value {
        Value::from_object(Unknown(name.to_owned()))
    }
}

impl Object for Unknown {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str() {
            Some(field) => Unknown::value(&format!("{}.{field}", self.0)),
            None => Value::from(format!("<{}>", in_words(&self.0).unwrap_or(&self.0))),
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(1)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", in_words(&self.0).unwrap_or(&self.0))
    }
}

/// What the plan shows most of what is known only once a step runs, in
/// words, still marked as a placeholder (`<the release's directory, once
/// built>/config.txt`, not `<release.build_path>/config.txt`); any other
/// value shows as `<name.field>`.
fn in_words(name: &str) -> Option<&'static str> {
    Some(match name {
        "release.sha" => "the new release's SHA",
        "release.path" => "the new release's directory",
        "release.build_path" => "the release's directory, once built",
        "release.live" => "the live release",
        "migrations.head" => "the release's newest migration",
        "migrations.pending" => "the pending migrations",
        "pending.tables" => "the tables the pending migrations change",
        "app.entry" => "the app's entry point",
        "pulled.file" => "the generated migration",
        "pulled.revision" => "the generated migration's revision",
        "pulled.local" => "the pulled migration file",
        "pulled.path" => "the generated migration on the host",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_lists_and_conditions_of_an_unknown_value_render_as_its_name() {
        let env = minijinja::Environment::new();
        let ctx = minijinja::context! { migrations => Unknown::value("migrations") };
        let render = |t: &str| env.render_str(t, &ctx).unwrap();
        assert_eq!(
            render("{{ migrations.head }}"),
            "<the release's newest migration>"
        );
        assert_eq!(render("{{ migrations.parent }}"), "<migrations.parent>");
        assert_eq!(
            render("{{ migrations.pending | join(',') }}"),
            "<the pending migrations>"
        );
        assert_eq!(render("{% if migrations.pending %}yes{% endif %}"), "yes");
    }
}
