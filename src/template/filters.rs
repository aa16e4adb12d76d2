//! Ansible's filters, tests and lookups that real inventories and role
//! templates use, with Ansible's behaviour, on top of minijinja's builtins
//! (`default`/`d`, `lower`, `upper`, `join`, `int`, `float`, `trim`,
//! `replace`, `first`, `last`, `unique`, `map`, `select`, ...).

// minijinja passes a filter its arguments by value (`Value`, `String`).
#![allow(clippy::needless_pass_by_value)]

use std::collections::BTreeMap;

use base64::Engine as _;
use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use crate::transport::quote;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Adds the filters, tests and functions to `env`.
pub fn register(env: &mut Environment<'static>) {
    env.add_filter("bool", |value: Value| super::truthy(&value));
    env.add_filter("quote", |value: Value| {
        Value::from_safe_string(quote(&value.to_string()))
    });
    env.add_filter("mandatory", mandatory);
    env.add_filter("b64encode", |value: String| {
        base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
    });
    env.add_filter("b64decode", b64decode);
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", |text: String| -> Result<Value, Error> {
        serde_json::from_str::<serde_json::Value>(&text)
            .map(|v| Value::from_serialize(&v))
            .map_err(|e| invalid(format!("from_json: {e}")))
    });
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_yaml);
    env.add_filter("from_yaml", |text: String| -> Result<Value, Error> {
        serde_yaml::from_str::<serde_yaml::Value>(&text)
            .map(|v| Value::from_serialize(&v))
            .map_err(|e| invalid(format!("from_yaml: {e}")))
    });
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", |text: String| regex::escape(&text));
    env.add_filter("basename", |path: String| {
        path.rsplit('/').next().unwrap_or_default().to_owned()
    });
    env.add_filter("dirname", |path: String| match path.rfind('/') {
        Some(0) => "/".to_owned(),
        Some(at) => path[..at].to_owned(),
        None => String::new(),
    });
    env.add_filter("expanduser", |path: String| {
        crate::transport::expand_home_in(&crate::transport::home(), &path)
            .display()
            .to_string()
    });
    env.add_filter(
        "ternary",
        |value: Value, yes: Value, no: Value| {
            if super::truthy(&value) { yes } else { no }
        },
    );
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("flatten", |value: Value| -> Result<Value, Error> {
        let mut out = Vec::new();
        flatten_into(&value, &mut out)?;
        Ok(Value::from(out))
    });
    env.add_filter("difference", |a: Vec<Value>, b: Vec<Value>| {
        a.into_iter().filter(|x| !b.contains(x)).collect::<Vec<_>>()
    });
    env.add_filter("intersect", |a: Vec<Value>, b: Vec<Value>| {
        a.into_iter().filter(|x| b.contains(x)).collect::<Vec<_>>()
    });
    env.add_filter("union", |a: Vec<Value>, b: Vec<Value>| {
        let mut out = a;
        for x in b {
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    });
    env.add_filter(
        "hash",
        |value: String, algorithm: Option<String>| -> Result<String, Error> {
            match algorithm.as_deref().unwrap_or("sha1") {
                "sha256" => {
                    use sha2::Digest as _;
                    Ok(hex::encode(sha2::Sha256::digest(value.as_bytes())))
                }
                other => Err(invalid(format!(
                    "hash: `{other}` is not supported (sha256 is)"
                ))),
            }
        },
    );
    env.add_filter("type_debug", |value: Value| python_type(&value));
    env.add_filter("string", |value: Value| value.to_string());
    env.add_test(
        "match",
        |value: String, pattern: String| -> Result<bool, Error> {
            Ok(compile(&format!("^(?:{pattern})"))?.is_match(&value))
        },
    );
    env.add_test(
        "search",
        |value: String, pattern: String| -> Result<bool, Error> {
            Ok(compile(&pattern)?.is_match(&value))
        },
    );
    env.add_test(
        "regex",
        |value: String, pattern: String| -> Result<bool, Error> {
            Ok(compile(&pattern)?.is_match(&value))
        },
    );
    env.add_test("version", version_test);
    env.add_function("lookup", lookup);
    env.add_function(
        "query",
        |kind: String, args: Rest<String>| -> Result<Value, Error> {
            lookup(kind, args).map(|v| Value::from(vec![v]))
        },
    );
}

/// `{{ x | mandatory }}`: an error naming the variable if it is undefined.
fn mandatory(value: Value, message: Option<String>) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            message.unwrap_or_else(|| "a mandatory variable is not defined".into()),
        ));
    }
    Ok(value)
}

fn b64decode(value: String) -> Result<String, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| invalid(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| invalid(e.to_string()))
}

fn json_of(value: &Value) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value).map_err(|e| invalid(format!("cannot be JSON: {e}")))
}

fn to_json(value: Value) -> Result<String, Error> {
    Ok(json_of(&value)?.to_string())
}

fn to_nice_json(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let json = json_of(&value)?;
    let indent = " ".repeat(indent.unwrap_or(4));
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(&json, &mut serializer).map_err(|e| invalid(e.to_string()))?;
    String::from_utf8(out).map_err(|e| invalid(e.to_string()))
}

fn to_yaml(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    // Ansible's `indent` and `width` only change the layout; YAML is YAML.
    let _: Option<Value> = kwargs.get("indent")?;
    let _: Option<Value> = kwargs.get("width")?;
    kwargs.assert_all_used()?;
    serde_yaml::to_string(&json_of(&value)?).map_err(|e| invalid(e.to_string()))
}

fn compile(pattern: &str) -> Result<regex::Regex, Error> {
    regex::Regex::new(pattern).map_err(|e| invalid(format!("bad regular expression: {e}")))
}

fn regex_with_flags(pattern: &str, kwargs: &Kwargs) -> Result<regex::Regex, Error> {
    let ignorecase: Option<bool> = kwargs.get("ignorecase")?;
    let multiline: Option<bool> = kwargs.get("multiline")?;
    regex::RegexBuilder::new(pattern)
        .case_insensitive(ignorecase.unwrap_or(false))
        .multi_line(multiline.unwrap_or(false))
        .build()
        .map_err(|e| invalid(format!("bad regular expression: {e}")))
}

/// Python's replacement syntax (`\1`, `\g<name>`) as the regex crate's.
fn replacement(python: &str) -> String {
    let mut out = String::new();
    let mut chars = python.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut group = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        group.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('g') => {
                    chars.next();
                    let mut group = String::new();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        for d in chars.by_ref() {
                            if d == '>' {
                                break;
                            }
                            group.push(d);
                        }
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

fn regex_replace(
    value: String,
    pattern: String,
    with: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let regex = regex_with_flags(&pattern, &kwargs)?;
    let count: Option<usize> = kwargs.get("count")?;
    kwargs.assert_all_used()?;
    let with = replacement(with.as_deref().unwrap_or(""));
    Ok(regex
        .replacen(&value, count.unwrap_or(0), with.as_str())
        .into_owned())
}

fn regex_search(
    value: String,
    pattern: String,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let regex = regex_with_flags(&pattern, &kwargs)?;
    kwargs.assert_all_used()?;
    let Some(found) = regex.captures(&value) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(found.get(0).map_or("", |m| m.as_str())));
    }
    let picked: Vec<Value> = groups
        .iter()
        .map(|g| {
            let group = g.trim_start_matches('\\');
            let m = match group.parse::<usize>() {
                Ok(n) => found.get(n),
                Err(_) => found.name(group.trim_start_matches("g<").trim_end_matches('>')),
            };
            Value::from(m.map_or("", |m| m.as_str()))
        })
        .collect();
    Ok(Value::from(picked))
}

fn regex_findall(value: String, pattern: String, kwargs: Kwargs) -> Result<Value, Error> {
    let regex = regex_with_flags(&pattern, &kwargs)?;
    kwargs.assert_all_used()?;
    let found: Vec<Value> = regex
        .captures_iter(&value)
        .map(|c| match c.len() {
            1 => Value::from(c.get(0).map_or("", |m| m.as_str())),
            2 => Value::from(c.get(1).map_or("", |m| m.as_str())),
            _ => Value::from(
                (1..c.len())
                    .map(|i| Value::from(c.get(i).map_or("", |m| m.as_str())))
                    .collect::<Vec<_>>(),
            ),
        })
        .collect();
    Ok(Value::from(found))
}

fn as_map(value: &Value, filter: &str) -> Result<BTreeMap<String, Value>, Error> {
    if value.kind() != ValueKind::Map {
        return Err(invalid(format!(
            "{filter} needs a mapping, not {}",
            value.kind()
        )));
    }
    let mut map = BTreeMap::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        map.insert(key.to_string(), item);
    }
    Ok(map)
}

fn combine(base: Value, others: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let recursive: Option<bool> = kwargs.get("recursive")?;
    kwargs.assert_all_used()?;
    let mut out = as_map(&base, "combine")?;
    for other in others.iter() {
        merge(
            &mut out,
            as_map(other, "combine")?,
            recursive.unwrap_or(false),
        )?;
    }
    Ok(Value::from(out))
}

fn merge(
    into: &mut BTreeMap<String, Value>,
    from: BTreeMap<String, Value>,
    recursive: bool,
) -> Result<(), Error> {
    for (key, value) in from {
        match into.get(&key) {
            Some(existing)
                if recursive
                    && existing.kind() == ValueKind::Map
                    && value.kind() == ValueKind::Map =>
            {
                let mut inner = as_map(existing, "combine")?;
                merge(&mut inner, as_map(&value, "combine")?, true)?;
                into.insert(key, Value::from(inner));
            }
            _ => {
                into.insert(key, value);
            }
        }
    }
    Ok(())
}

fn dict2items(value: Value) -> Result<Value, Error> {
    let items: Vec<Value> = as_map(&value, "dict2items")?
        .into_iter()
        .map(|(key, value)| {
            Value::from(BTreeMap::from([
                ("key".to_owned(), Value::from(key)),
                ("value".to_owned(), value),
            ]))
        })
        .collect();
    Ok(Value::from(items))
}

fn items2dict(items: Vec<Value>) -> Result<Value, Error> {
    let mut out = BTreeMap::new();
    for item in items {
        out.insert(item.get_attr("key")?.to_string(), item.get_attr("value")?);
    }
    Ok(Value::from(out))
}

fn flatten_into(value: &Value, out: &mut Vec<Value>) -> Result<(), Error> {
    if value.kind() == ValueKind::Seq {
        for item in value.try_iter()? {
            flatten_into(&item, out)?;
        }
    } else {
        out.push(value.clone());
    }
    Ok(())
}

fn python_type(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Bool => "bool",
        ValueKind::Number if value.as_i64().is_some() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Seq => "list",
        ValueKind::Map => "dict",
        ValueKind::None | ValueKind::Undefined => "NoneType",
        _ => "object",
    }
}

/// `x is version('2.0', '>=')`, comparing dotted numbers.
fn version_test(value: String, other: String, op: Option<String>) -> Result<bool, Error> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let parts = |v: &str| -> Vec<u64> {
        v.trim_start_matches('v')
            .split(['.', '-', '+'])
            .map_while(|p| p.parse().ok())
            .collect()
    };
    let ordering = parts(&value).cmp(&parts(&other));
    Ok(match op.as_deref().unwrap_or("eq") {
        "eq" | "==" | "=" => ordering == Equal,
        "ne" | "!=" | "<>" => ordering != Equal,
        "lt" | "<" => ordering == Less,
        "le" | "<=" => ordering != Greater,
        "gt" | ">" => ordering == Greater,
        "ge" | ">=" => ordering != Less,
        other => return Err(invalid(format!("version: `{other}` is not a comparison"))),
    })
}

/// `lookup('env', 'NAME')` and `lookup('file', 'path')`, read on this
/// machine as Ansible reads them.
fn lookup(kind: String, args: Rest<String>) -> Result<Value, Error> {
    let arg = args.first().cloned().unwrap_or_default();
    match kind.as_str() {
        "env" => Ok(Value::from(std::env::var(&arg).unwrap_or_default())),
        "file" => {
            let path = crate::transport::expand_home_in(&crate::transport::home(), &arg);
            fs_err::read_to_string(&path)
                .map(|text| Value::from(text.trim_end_matches('\n').to_owned()))
                .map_err(|e| invalid(format!("lookup('file'): {e}")))
        }
        other => Err(invalid(format!(
            "lookup('{other}') is not supported (`env` and `file` are)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Templates;

    fn render(template: &str) -> String {
        let ctx = minijinja::context! {
            name => "Pulls Staging", list => vec![1, 2], nested => vec![vec![1], vec![2, 3]],
            map => minijinja::context! { a => 1 }, flag => "yes", path => "/var/www/app/site",
        };
        Templates::new()
            .render(template, &ctx)
            .unwrap_or_else(|e| panic!("{template}: {e}"))
    }

    #[test]
    fn ansible_filters_behave_as_in_ansible() {
        assert_eq!(
            render("{{ name | lower | regex_replace('\\\\s+', '-') }}"),
            "pulls-staging"
        );
        assert_eq!(
            render("{{ 'ab12' | regex_replace('([a-z]+)(\\\\d+)', '\\\\2\\\\1') }}"),
            "12ab"
        );
        assert_eq!(render("{{ name | regex_search('S\\\\w+') }}"), "Staging");
        assert_eq!(render("{{ 'x' | b64encode }}"), "eA==");
        assert_eq!(render("{{ 'eA==' | b64decode }}"), "x");
        assert_eq!(render("{{ list | to_json }}"), "[1,2]");
        assert_eq!(render("{{ map | to_yaml }}"), "a: 1\n");
        assert_eq!(
            render("{{ flag | bool }}"),
            "True",
            "Python's spelling, as in Ansible"
        );
        assert_eq!(render("{{ undefined_thing | d('dflt') }}"), "dflt");
        assert_eq!(render("{{ name | quote }}"), "'Pulls Staging'");
        assert_eq!(
            render("{{ path | basename }}/{{ path | dirname }}"),
            "site//var/www/app"
        );
        assert_eq!(render("{{ nested | flatten | join(',') }}"), "1,2,3");
        assert_eq!(
            render("{{ map | combine({'b': 2}) | to_json }}"),
            r#"{"a":1,"b":2}"#
        );
        assert_eq!(
            render("{{ map | dict2items | items2dict | to_json }}"),
            r#"{"a":1}"#
        );
        assert_eq!(render("{{ flag | bool | ternary('on', 'off') }}"), "on");
        assert_eq!(render("{{ '2.19.1' is version('2.10', '>=') }}"), "True");
        assert_eq!(render("{{ name is match('Pulls') }}"), "True");
        assert_eq!(render("{{ '3' | int + 1 }}"), "4");
    }

    #[test]
    fn mandatory_names_the_missing_variable() {
        let err = Templates::new()
            .render("{{ gone | mandatory }}", &minijinja::context! {})
            .unwrap_err();
        assert_eq!(err.undefined, ["gone"]);
    }
}
