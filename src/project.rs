//! What a Python web app's checkout says about how it deploys, read from
//! its files (no Python run): its name, repository and default branch, how
//! Flask is started, whether it has Flask-Migrate and where, how its
//! dependencies are declared, and whether it has a config template.

use std::path::Path;

/// What `wptdeploy init` detected in a checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The directory's name, as a project name.
    pub name: String,
    /// `origin`'s URL.
    pub repo: Option<String>,
    /// The branch `origin` names as its default, else the one checked out.
    pub branch: Option<String>,
    /// How the app's commands are started, if it is a Flask app.
    pub launcher: Option<Launcher>,
    /// The Flask-Migrate directory (holding `env.py` and `versions/`).
    pub migrations_dir: Option<String>,
    /// How its dependencies are declared.
    pub dependencies: Dependencies,
    /// It has `playbooks/templates/config.txt.j2`, written into each release.
    pub config_template: bool,
    /// Where the app reads its settings, as found: the likeliest first.
    pub config_files: Vec<ConfigFile>,
    /// The WSGI entry point (`MODULE:VARIABLE`, `MODULE:factory()`).
    pub wsgi_app: Option<String>,
    /// Where the build file goes so that the app serves it: in the static
    /// folder of the entry point's package (`PKG/static/build.txt`).
    pub served_build_file: Option<String>,
    /// Directories of the checkout that usually outlive a release
    /// (`instance/`, `logs/`, `uploads/`), where they exist.
    pub shared_dirs: Vec<String>,
    /// Whether its requirements or pyproject name gunicorn.
    pub gunicorn: bool,
}

/// Directories a Flask app keeps across releases, when the checkout has them.
const SHARED_DIRS: [&str; 3] = ["instance", "logs", "uploads"];

/// A place the app reads settings from, and why it is thought so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// The file, relative to the release.
    pub path: String,
    /// What showed it (`load_dotenv in app.py`).
    pub because: String,
}

/// How the app's commands (`db upgrade`, `routes`) are started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    /// `python manage.py` (Flask-Script, as wptdash).
    ManagePy,
    /// `flask --app MODULE` (a module with an app or an app factory).
    Flask(String),
}

impl Launcher {
    /// The command line before its subcommand, with the release's virtualenv.
    pub fn command(&self) -> String {
        match self {
            Launcher::ManagePy => "{{ venv_path }}/bin/python manage.py".into(),
            Launcher::Flask(module) => format!("{{{{ venv_path }}}}/bin/flask --app {module}"),
        }
    }
}

/// How a project declares what to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dependencies {
    /// `requirements.txt`.
    Requirements,
    /// `pyproject.toml` or `setup.py`: the release itself is installed.
    Package,
    /// Neither.
    None,
}

impl Project {
    /// Reads the checkout at `dir`.
    pub fn detect(dir: &Path) -> Project {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "app".into());
        let has = |file: &str| dir.join(file).is_file();
        let requirements = read(dir, "requirements.txt").to_ascii_lowercase();
        let pyproject = read(dir, "pyproject.toml").to_ascii_lowercase();
        let mentions_migrate = ["flask-migrate", "flask_migrate"]
            .iter()
            .any(|m| requirements.contains(m) || pyproject.contains(m));
        let migrations_dir = ["migrations", "migrations/alembic"]
            .into_iter()
            .find(|d| has(&format!("{d}/env.py")))
            .map(str::to_owned)
            .or_else(|| mentions_migrate.then(|| "migrations".to_owned()));
        Project {
            name,
            repo: git(dir, &["remote", "get-url", "origin"]),
            branch: git(
                dir,
                &["symbolic-ref", "--short", "refs/remotes/origin/HEAD"],
            )
            .map(|b| b.trim_start_matches("origin/").to_owned())
            .or_else(|| git(dir, &["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD")),
            launcher: launcher(dir),
            migrations_dir,
            dependencies: if has("requirements.txt") {
                Dependencies::Requirements
            } else if has("pyproject.toml") || has("setup.py") {
                Dependencies::Package
            } else {
                Dependencies::None
            },
            config_template: has("playbooks/templates/config.txt.j2"),
            config_files: config_files(dir, &requirements, &pyproject),
            wsgi_app: wsgi_app(dir),
            served_build_file: served_build_file(dir),
            shared_dirs: SHARED_DIRS
                .iter()
                .filter(|d| dir.join(d).is_dir())
                .map(|d| (*d).to_owned())
                .collect(),
            gunicorn: requirements.contains("gunicorn") || pyproject.contains("gunicorn"),
        }
    }
}

/// The app's Python files at the top and one package deep (not tests,
/// migrations or environments), with their text.
pub(crate) fn python_files(dir: &Path) -> Vec<(String, String)> {
    let skip = |name: &str| {
        name.starts_with('.')
            || [
                "tests",
                "test",
                "migrations",
                "venv",
                "node_modules",
                "build",
                "dist",
            ]
            .contains(&name)
    };
    let mut out = Vec::new();
    let mut entries: Vec<_> = fs_err::read_dir(dir)
        .map(|e| e.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if skip(&name) {
            continue;
        }
        if name.ends_with(".py") {
            out.push((name, fs_err::read_to_string(&path).unwrap_or_default()));
        } else if path.join("__init__.py").is_file() {
            let mut inner: Vec<_> = fs_err::read_dir(&path)
                .map(|e| e.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default();
            inner.sort();
            for file in inner
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "py"))
            {
                let file_name = file.file_name().unwrap_or_default().to_string_lossy();
                out.push((
                    format!("{name}/{file_name}"),
                    fs_err::read_to_string(file).unwrap_or_default(),
                ));
            }
        }
    }
    out
}

/// Where the app reads its settings: `.env` (python-dotenv), Flask's
/// instance folder (`from_pyfile` with `instance_relative_config`, or an
/// `instance/` directory), a `config.txt` template; `.flaskenv` is the
/// Flask CLI's and usually committed, so it comes last.
fn config_files(dir: &Path, requirements: &str, pyproject: &str) -> Vec<ConfigFile> {
    let sources = python_files(dir);
    let said = |needle: &str| {
        sources
            .iter()
            .find(|(_, text)| text.contains(needle))
            .map(|(file, _)| format!("{needle} in {file}"))
    };
    let mut found: Vec<ConfigFile> = Vec::new();
    let mut add = |path: &str, because: String| {
        if !found.iter().any(|c| c.path == path) {
            found.push(ConfigFile {
                path: path.to_owned(),
                because,
            });
        }
    };
    let dotenv = ["python-dotenv", "python_dotenv"]
        .iter()
        .any(|d| requirements.contains(d) || pyproject.contains(d));
    if let Some(why) = said("load_dotenv") {
        add(".env", why);
    } else if dotenv {
        add(".env", "python-dotenv in the dependencies".into());
    } else if let Some(example) = [".env.example", ".env.sample", ".env.template"]
        .iter()
        .find(|f| dir.join(f).is_file())
    {
        add(".env", format!("{example} in the checkout"));
    }
    if let Some(why) = said("instance_relative_config") {
        let file = sources
            .iter()
            .find_map(|(_, text)| {
                let at = text.find("from_pyfile(")?;
                let rest = &text[at + "from_pyfile(".len()..];
                let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
                rest[1..].split(quote).next().map(str::to_owned)
            })
            .unwrap_or_else(|| "config.py".into());
        add(&format!("instance/{file}"), why);
    } else if dir.join("instance").is_dir() {
        add("instance/config.py", "an instance/ directory".into());
    }
    if dir.join("playbooks/templates/config.txt.j2").is_file() {
        add("config.txt", "playbooks/templates/config.txt.j2".into());
    } else if let Some(why) = said("config.txt") {
        add("config.txt", why);
    }
    if dir.join(".flaskenv").is_file() {
        add(
            ".flaskenv",
            ".flaskenv in the checkout (the Flask CLI's)".into(),
        );
    }
    found
}

/// `PKG/static/build.txt` when the entry point's package (or the
/// checkout, for a top-level module) has a `static` folder, else the
/// package whose `__init__.py` makes the `Flask(__name__)` app (a
/// top-level `microblog.py` calling `app.create_app()`): Flask serves it
/// at `/static/build.txt`, which the cut-over then waits on.
fn served_build_file(dir: &Path) -> Option<String> {
    let entry = wsgi_app(dir)?;
    let module = entry.split(':').next()?;
    let package = module.split('.').next()?;
    let making_the_app = python_files(dir)
        .into_iter()
        .filter(|(file, text)| file.ends_with("/__init__.py") && text.contains("Flask(__name__"))
        .filter_map(|(file, _)| file.split('/').next().map(|p| format!("{p}/static")));
    [format!("{package}/static"), "static".to_owned()]
        .into_iter()
        .chain(making_the_app)
        .find(|d| dir.join(d).is_dir())
        .map(|d| format!("{d}/build.txt"))
}

/// The WSGI entry point: what the app's own files serve (a `gunicorn`
/// command line in its Procfile, Dockerfile or a top-level shell
/// script), else a `wsgi.py` or `app.py`, else the module `FLASK_APP`
/// names (`.flaskenv`, `.env`), else the first module that makes an app
/// (a package's `__init__.py`, then top-level modules, then the modules
/// inside packages).
fn wsgi_app(dir: &Path) -> Option<String> {
    if let Some(served) = served_by_gunicorn(dir) {
        return Some(served);
    }
    let sources = python_files(dir);
    let rank = |file: &str| match file {
        "wsgi.py" => 0,
        "app.py" => 1,
        f if f.ends_with("/wsgi.py") => 2,
        f if f.ends_with("/__init__.py") => 3,
        f if !f.contains('/') => 4,
        _ => 5,
    };
    let mut ranked: Vec<&(String, String)> = sources.iter().collect();
    ranked.sort_by_key(|(file, _)| rank(file));
    let module = |file: &str| {
        file.trim_end_matches(".py")
            .trim_end_matches("/__init__")
            .replace('/', ".")
    };
    let variable = |text: &str| {
        ["application", "app"].into_iter().find(|name| {
            text.lines()
                .any(|l| l.starts_with(&format!("{name} =")) || l.starts_with(&format!("{name}=")))
        })
    };
    let entry = |(file, text): &&(String, String)| {
        variable(text)
            .map(|v| format!("{}:{v}", module(file)))
            .or_else(|| {
                text.contains("def create_app(")
                    .then(|| format!("{}:create_app()", module(file)))
            })
    };
    let (first, rest): (Vec<_>, Vec<_>) = ranked.iter().partition(|(file, _)| rank(file) <= 2);
    first
        .iter()
        .find_map(entry)
        .or_else(|| {
            let named = flask_app(dir)?;
            if named.contains(':') {
                return Some(named);
            }
            let file = named.trim_end_matches(".py").replace('.', "/");
            sources
                .iter()
                .find(|(f, _)| *f == format!("{file}.py") || *f == format!("{file}/__init__.py"))
                .and_then(|source| entry(&source))
        })
        .or_else(|| {
            rest.iter().find_map(|source| {
                variable(&source.1).map(|v| format!("{}:{v}", module(&source.0)))
            })
        })
        .or_else(|| {
            rest.iter()
                .find(|(_, text)| text.contains("def create_app("))
                .map(|(file, _)| format!("{}:create_app()", module(file)))
        })
}

/// The `MODULE:VARIABLE` a `gunicorn` command line of the checkout serves:
/// a Procfile's, a Dockerfile's or a top-level shell script's.
fn served_by_gunicorn(dir: &Path) -> Option<String> {
    let mut files = vec!["Procfile".to_owned(), "Dockerfile".to_owned()];
    let mut scripts: Vec<String> = fs_err::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".sh"))
                .collect()
        })
        .unwrap_or_default();
    scripts.sort();
    files.extend(scripts);
    files.iter().find_map(|file| {
        read(dir, file).lines().find_map(|line| {
            let (_, args) = line.split_once("gunicorn")?;
            args.split([' ', '\t', ',', '[', ']'])
                .map(|word| word.trim_matches(['"', '\'']))
                .find(|word| is_entry_point(word))
                .map(str::to_owned)
        })
    })
}

/// `pkg.module:name` or `pkg.module:factory()`.
fn is_entry_point(word: &str) -> bool {
    let Some((module, variable)) = word.split_once(':') else {
        return false;
    };
    let identifier = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    module.split('.').all(identifier) && identifier(variable.strip_suffix("()").unwrap_or(variable))
}

/// `FLASK_APP` as the checkout's `.flaskenv` (else `.env`) sets it.
fn flask_app(dir: &Path) -> Option<String> {
    [".flaskenv", ".env"].into_iter().find_map(|file| {
        read(dir, file).lines().find_map(|line| {
            let value = line.trim().strip_prefix("export ").unwrap_or(line.trim());
            let value = value
                .strip_prefix("FLASK_APP=")?
                .trim()
                .trim_matches(['"', '\'']);
            (!value.is_empty()).then(|| value.to_owned())
        })
    })
}

/// `manage.py`, else what `FLASK_APP` names, else the first module that
/// makes a Flask app: a package's
/// `__init__.py`, then `app.py`, `wsgi.py` and the other top-level modules.
fn launcher(dir: &Path) -> Option<Launcher> {
    if dir.join("manage.py").is_file() {
        return Some(Launcher::ManagePy);
    }
    if let Some(named) = flask_app(dir) {
        return Some(Launcher::Flask(named));
    }
    let mut candidates: Vec<(String, String)> = Vec::new();
    let mut entries: Vec<_> = fs_err::read_dir(dir)
        .map(|e| e.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for path in &entries {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if name.starts_with('.') || name == "tests" || name == "migrations" {
            continue;
        }
        if path.join("__init__.py").is_file() {
            candidates.push((name, read(path, "__init__.py")));
        }
    }
    for first in ["app.py", "wsgi.py"] {
        if let Some(path) = entries.iter().find(|p| p.ends_with(first)) {
            let module = first.trim_end_matches(".py").to_owned();
            candidates.push((module, fs_err::read_to_string(path).unwrap_or_default()));
        }
    }
    for path in &entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(module) = name.as_deref().and_then(|n| n.strip_suffix(".py"))
            && !["app", "wsgi", "setup", "conftest"].contains(&module)
        {
            candidates.push((
                module.to_owned(),
                fs_err::read_to_string(path).unwrap_or_default(),
            ));
        }
    }
    candidates
        .into_iter()
        .find(|(_, text)| text.contains("def create_app") || text.contains("Flask(__name__"))
        .map(|(module, _)| Launcher::Flask(module))
}

fn read(dir: &Path, file: &str) -> String {
    fs_err::read_to_string(dir.join(file)).unwrap_or_default()
}

/// `git -C dir ARGS`'s first line, if it succeeded and said something.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let line = String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    (!line.is_empty()).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        let path = dir.join(file);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }

    #[test]
    fn an_app_factory_with_flask_migrate_and_requirements_is_found() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "requirements.txt",
            "Flask==3.0\nFlask-Migrate==4.0\n",
        );
        write(
            dir.path(),
            "shop/__init__.py",
            "from flask import Flask\n\ndef create_app():\n    return Flask(__name__)\n",
        );
        write(dir.path(), "tests/__init__.py", "def create_app(): pass\n");
        let project = Project::detect(dir.path());
        assert_eq!(project.launcher, Some(Launcher::Flask("shop".into())));
        assert_eq!(project.migrations_dir.as_deref(), Some("migrations"));
        assert_eq!(project.dependencies, Dependencies::Requirements);
        assert!(!project.config_template);
        assert_eq!(
            project.launcher.unwrap().command(),
            "{{ venv_path }}/bin/flask --app shop"
        );
    }

    #[test]
    fn manage_py_wins_and_a_project_without_migrate_has_no_migrations() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "manage.py", "");
        write(dir.path(), "app.py", "app = Flask(__name__)\n");
        write(dir.path(), "pyproject.toml", "[project]\nname = 'x'\n");
        let project = Project::detect(dir.path());
        assert_eq!(project.launcher, Some(Launcher::ManagePy));
        assert_eq!(project.migrations_dir, None);
        assert_eq!(project.dependencies, Dependencies::Package);
        let plain = tempfile::tempdir().unwrap();
        write(plain.path(), "app.py", "print('not flask')\n");
        assert_eq!(Project::detect(plain.path()).launcher, None);
    }

    #[test]
    fn the_config_file_and_the_entry_point_are_found_where_the_app_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "requirements.txt", "flask\npython-dotenv\n");
        write(
            dir.path(),
            "shop/__init__.py",
            "from dotenv import load_dotenv\nload_dotenv()\ndef create_app(config=None):\n    app = Flask(__name__, instance_relative_config=True)\n    app.config.from_pyfile('settings.cfg', silent=True)\n    return app\n",
        );
        write(dir.path(), ".flaskenv", "FLASK_APP=shop\n");
        let project = Project::detect(dir.path());
        let paths: Vec<&str> = project
            .config_files
            .iter()
            .map(|c| c.path.as_str())
            .collect();
        assert_eq!(paths, [".env", "instance/settings.cfg", ".flaskenv"]);
        assert_eq!(
            project.config_files[0].because,
            "load_dotenv in shop/__init__.py"
        );
        assert_eq!(project.wsgi_app.as_deref(), Some("shop:create_app()"));
        write(
            dir.path(),
            "wsgi.py",
            "from shop import create_app\napplication = create_app()\n",
        );
        assert_eq!(
            Project::detect(dir.path()).wsgi_app.as_deref(),
            Some("wsgi:application")
        );
        let empty = tempfile::tempdir().unwrap();
        let none = Project::detect(empty.path());
        assert!(none.config_files.is_empty() && none.wsgi_app.is_none());
    }

    /// microblog's shape: an `app` package with a factory, a worker module
    /// that also makes an app, a top-level `microblog.py` that FLASK_APP
    /// names and gunicorn serves.
    #[test]
    fn what_the_app_itself_serves_comes_before_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "app/__init__.py",
            "def create_app(config_class=Config):\n    app = Flask(__name__)\n    return app\n",
        );
        write(dir.path(), "app/static/loading.gif", "");
        write(dir.path(), "app/tasks.py", "app = create_app()\n");
        write(
            dir.path(),
            "microblog.py",
            "from app import create_app\napp = create_app()\n",
        );
        write(
            dir.path(),
            ".flaskenv",
            "FLASK_APP=microblog.py\nFLASK_DEBUG=1\n",
        );
        let project = Project::detect(dir.path());
        assert_eq!(project.wsgi_app.as_deref(), Some("microblog:app"));
        assert_eq!(
            project.launcher,
            Some(Launcher::Flask("microblog.py".into()))
        );
        assert_eq!(
            project.served_build_file.as_deref(),
            Some("app/static/build.txt")
        );
        // Without FLASK_APP, a top-level module before a package's insides.
        fs_err::remove_file(dir.path().join(".flaskenv")).unwrap();
        assert_eq!(
            Project::detect(dir.path()).wsgi_app.as_deref(),
            Some("microblog:app")
        );
        // What gunicorn is told to serve wins over every guess.
        write(dir.path(), "wsgi.py", "application = object()\n");
        write(
            dir.path(),
            "Procfile",
            "web: flask db upgrade; gunicorn -b :5000 --access-logfile - 'microblog:app'\nworker: rq worker\n",
        );
        assert_eq!(
            Project::detect(dir.path()).wsgi_app.as_deref(),
            Some("microblog:app")
        );
        fs_err::remove_file(dir.path().join("Procfile")).unwrap();
        write(
            dir.path(),
            "boot.sh",
            "exec gunicorn -b :5000 --workers 3 app.tasks:app\n",
        );
        assert_eq!(
            Project::detect(dir.path()).wsgi_app.as_deref(),
            Some("app.tasks:app")
        );
    }
}
