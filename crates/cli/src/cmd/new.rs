//! `vigil new strategy <name>`: scaffolds a strategy plug-in crate that builds,
//! tests and backtests with no edit.
//!
//! Inside a vigil checkout the crate becomes a workspace member (and is added to
//! the root `Cargo.toml`'s `members`); elsewhere it is a workspace of its own that
//! depends on vigil by path (`--vigil`) or git (`--git`).

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context as _};
use vigil_strategy::Registry;

/// `vigil new …`.
#[derive(clap::Subcommand, Debug)]
pub enum NewCommand {
    /// Scaffold a strategy plug-in crate: Cargo.toml, a config struct, the
    /// strategy (an RSI pullback above a trend EMA, with a bar-history stop), its
    /// descriptor, harness tests, a backtest config on shipped data, a README and
    /// a `vigil` binary that includes it.
    Strategy(StrategyArgs),
}

/// `vigil new strategy`.
#[derive(clap::Args, Debug)]
pub struct StrategyArgs {
    /// The strategy's name, lower-case words joined by `-` (e.g. `trend-pullback`);
    /// also the crate's and the binary's name.
    pub name: String,
    /// Where to create the crate (default: `./<name>`). It must not exist, or be
    /// an empty directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The vigil checkout to depend on by path (default: the one this binary was
    /// built from, when it is still there).
    #[arg(long, conflicts_with = "git")]
    pub vigil: Option<PathBuf>,
    /// Depend on vigil from this git repository instead of a local checkout.
    #[arg(long)]
    pub git: Option<String>,
    /// The git revision, with `--git`.
    #[arg(long, requires = "git")]
    pub rev: Option<String>,
}

/// Runs it.
pub fn run(cmd: NewCommand, registry: &Registry) -> anyhow::Result<()> {
    let NewCommand::Strategy(a) = cmd;
    let plan = plan(&a, registry)?;
    write(&plan)?;
    println!("created {} ({})", plan.dir.display(), plan.form.describe());
    if let Some(root) = &plan.member_of {
        if add_member(root, &plan.dir)? {
            println!(
                "added it to the workspace members in {}",
                root.join("Cargo.toml").display()
            );
        }
    }
    println!(
        "next:\n  cd {}\n  cargo test\n  cargo run --release -- backtest backtest.toml",
        plan.dir.display()
    );
    Ok(())
}

/// How the crate depends on vigil.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Form {
    /// A member of the vigil workspace (`workspace = true` dependencies).
    Member,
    /// Its own workspace, vigil by relative path.
    Path(String),
    /// Its own workspace, vigil from git.
    Git {
        /// Repository URL.
        url: String,
        /// Revision, if pinned.
        rev: Option<String>,
    },
}

impl Form {
    fn describe(&self) -> String {
        match self {
            Form::Member => "a member of the vigil workspace".into(),
            Form::Path(p) => format!("its own workspace; vigil by path {p}"),
            Form::Git { url, .. } => format!("its own workspace; vigil from {url}"),
        }
    }
}

/// What will be written.
pub struct Plan {
    /// The crate's directory.
    pub dir: PathBuf,
    /// The vigil workspace root it joins, when a member.
    pub member_of: Option<PathBuf>,
    /// The dependency form.
    pub form: Form,
    /// The files, relative to `dir`, with their contents.
    pub files: Vec<(&'static str, String)>,
    /// vigil's Cargo.lock to start from (standalone crates with a local checkout).
    pub lock: Option<PathBuf>,
}

fn plan(a: &StrategyArgs, registry: &Registry) -> anyhow::Result<Plan> {
    check_name(&a.name)?;
    if registry.get(&a.name).is_some() {
        bail!(
            "`{}` is already a registered strategy; choose another name",
            a.name
        );
    }
    let dir = absolute(&a.dir.clone().unwrap_or_else(|| PathBuf::from(&a.name)))?;
    if dir.exists() && std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_some()) {
        bail!(
            "{} already exists and is not an empty directory",
            dir.display()
        );
    }
    let root = match (&a.vigil, &a.git) {
        (Some(p), _) => Some(vigil_root(p)?),
        (None, Some(_)) => None,
        (None, None) => {
            let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            Some(vigil_root(&built_from).context(
                "the vigil checkout this binary was built from is gone: pass --vigil <checkout> or --git <url>",
            )?)
        }
    };
    let form = match (&root, &a.git) {
        (Some(r), _) if dir.starts_with(r) => Form::Member,
        (Some(r), _) => Form::Path(relative(&dir, r)),
        (None, Some(url)) => Form::Git {
            url: url.clone(),
            rev: a.rev.clone(),
        },
        (None, None) => unreachable!("a root or a git URL"),
    };
    let data = match &root {
        Some(r) => relative(
            &dir,
            &r.join("backtests/data/coinbase-btcusd-1h-2017-2019.csv"),
        ),
        None => "coinbase-btcusd-1h-2017-2019.csv".into(),
    };
    let profiles = match (&root, &form) {
        (Some(r), Form::Path(_)) => profiles_of(r)?,
        _ => String::new(),
    };
    let files = render(&a.name, &form, &data, &profiles);
    Ok(Plan {
        member_of: (form == Form::Member).then(|| root.clone()).flatten(),
        lock: match form {
            Form::Path(_) => root.map(|r| r.join("Cargo.lock")),
            _ => None,
        },
        dir,
        form,
        files,
    })
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.split('-').all(|w| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }) && name.starts_with(|c: char| c.is_ascii_lowercase());
    if !ok {
        bail!("`{name}`: a strategy name is lower-case letters and digits in words joined by `-`, starting with a letter (e.g. `trend-pullback`)");
    }
    Ok(())
}

/// The vigil workspace root at `p` (it must hold `crates/cli/Cargo.toml`).
fn vigil_root(p: &Path) -> anyhow::Result<PathBuf> {
    let root = p
        .canonicalize()
        .with_context(|| format!("{}: no such directory", p.display()))?;
    if !root.join("crates/cli/Cargo.toml").is_file() {
        bail!(
            "{} is not a vigil checkout (no crates/cli/Cargo.toml)",
            root.display()
        );
    }
    Ok(root)
}

/// `p` made absolute with its existing ancestors canonicalised.
fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    let mut existing = p.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        rest.push(existing.file_name().context("a directory name")?.to_owned());
        existing = existing.parent().context("a parent directory")?;
    }
    let mut out = existing.canonicalize()?;
    out.extend(rest.iter().rev());
    Ok(out)
}

/// The path of `to` seen from the directory `from`, with `/` separators.
fn relative(from: &Path, to: &Path) -> String {
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); a.len() - common];
    parts.extend(
        b[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

const LIB: &str = include_str!("../../templates/strategy/lib.rs");
const MAIN: &str = include_str!("../../templates/strategy/main.rs");
const TEST: &str = include_str!("../../templates/strategy/test.rs");
const CARGO: &str = include_str!("../../templates/strategy/Cargo.toml");
const BACKTEST: &str = include_str!("../../templates/strategy/backtest.toml");
const README: &str = include_str!("../../templates/strategy/README.md");
const SWEEP: &str = include_str!("../../templates/strategy/sweep.toml");
const PAPER: &str = include_str!("../../templates/strategy/paper.toml");
const GITIGNORE: &str = include_str!("../../templates/strategy/gitignore");

/// vigil's `[profile.*]` tables, as TOML, for a crate of its own beside a
/// checkout: with the same profiles (and lock file), a shared target directory
/// reuses the build of vigil's third-party dependencies. (vigil's own crates
/// compile once more: as path dependencies of another workspace they hash
/// differently.)
pub fn profiles_of(root: &Path) -> anyhow::Result<String> {
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", manifest.display()))?;
    let Some(profile) = table.get("profile") else {
        return Ok(String::new());
    };
    let mut out = toml::Table::new();
    out.insert("profile".into(), profile.clone());
    Ok(format!(
        "\n# vigil's build profiles: with them (and vigil's Cargo.lock), a shared\n\
         # CARGO_TARGET_DIR reuses the build of vigil's dependencies.\n{}",
        toml::to_string(&out)?
    ))
}

/// The crate's files for `name` in `form`, reading the shipped data at `data`
/// (relative to the crate); `profiles` ends a standalone `Cargo.toml`.
pub fn render(name: &str, form: &Form, data: &str, profiles: &str) -> Vec<(&'static str, String)> {
    let snake = name.replace('-', "_");
    let camel: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let (package, deps, tail, note) = cargo_parts(form);
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{crate}}", &snake)
            .replace("{{Type}}", &camel)
            .replace("{{data}}", data)
            .replace("{{package}}", &package)
            .replace("{{deps}}", &deps)
            .replace("{{tail}}", &(tail.clone() + profiles))
            .replace("{{build_note}}", &note)
    };
    vec![
        ("Cargo.toml", fill(CARGO)),
        ("src/lib.rs", fill(LIB)),
        ("src/main.rs", fill(MAIN)),
        ("tests/strategy.rs", fill(TEST)),
        ("backtest.toml", fill(BACKTEST)),
        ("README.md", fill(README)),
        ("sweep.toml", fill(SWEEP)),
        ("paper.toml", fill(PAPER)),
        (".gitignore", fill(GITIGNORE)),
    ]
}

/// (package fields, dependencies, trailing tables, README note).
fn cargo_parts(form: &Form) -> (String, String, String, String) {
    const VIGIL: [(&str, &str); 4] = [
        ("vigil-cli", "crates/cli"),
        ("vigil-core", "crates/core"),
        ("vigil-indicators", "crates/indicators"),
        ("vigil-strategy", "crates/strategy"),
    ];
    if *form == Form::Member {
        let package = "version.workspace = true\nedition.workspace = true\nrust-version.workspace = true\nlicense.workspace = true".to_string();
        let mut deps =
            "rust_decimal.workspace = true\nserde.workspace = true\ntoml.workspace = true\n"
                .to_string();
        for (krate, _) in VIGIL {
            deps += &format!("{krate}.workspace = true\n");
        }
        return (
            package,
            deps,
            "[lints]\nworkspace = true\n".into(),
            "\nIt is a member of the vigil workspace, so it shares vigil's build and lints.\n"
                .into(),
        );
    }
    let package = "version = \"0.1.0\"\nedition = \"2021\"\nrust-version = \"1.89\"".to_string();
    let mut deps = "rust_decimal = \"1\"\nserde = { version = \"1\", features = [\"derive\"] }\ntoml = \"1\"\n".to_string();
    for (krate, path) in VIGIL {
        deps += &match form {
            Form::Path(root) => format!("{krate} = {{ path = \"{root}/{path}\" }}\n"),
            Form::Git { url, rev } => match rev {
                Some(r) => format!("{krate} = {{ git = \"{url}\", rev = \"{r}\" }}\n"),
                None => format!("{krate} = {{ git = \"{url}\" }}\n"),
            },
            Form::Member => unreachable!(),
        };
    }
    let note = "\nThe first build compiles vigil too, which takes a few minutes; with\n`CARGO_TARGET_DIR=<vigil>/target` it reuses the build of vigil's dependencies\n(vigil's own crates still compile once). `Cargo.lock` starts as vigil's own, so\nthe crate builds with the versions vigil is tested with.\n";
    (
        package,
        deps,
        "# A workspace of its own, even inside another directory tree.\n[workspace]\n".into(),
        note.into(),
    )
}

/// Writes the plan: every file into a temporary sibling directory, renamed into
/// place at the end, so an error leaves nothing half-written.
fn write(plan: &Plan) -> anyhow::Result<()> {
    let parent = plan.dir.parent().context("the crate's parent directory")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".vigil-new-")
        .tempdir_in(parent)
        .with_context(|| format!("writing in {}", parent.display()))?;
    for (rel, text) in &plan.files {
        let path = tmp.path().join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        super::write_file(&path, text)?;
    }
    if let Some(lock) = &plan.lock {
        if lock.is_file() {
            std::fs::copy(lock, tmp.path().join("Cargo.lock"))
                .with_context(|| format!("copying {}", lock.display()))?;
        }
    }
    if plan.dir.exists() {
        std::fs::remove_dir(&plan.dir)
            .with_context(|| format!("replacing the empty {}", plan.dir.display()))?;
    }
    let tmp = tmp.keep();
    std::fs::rename(&tmp, &plan.dir).with_context(|| format!("creating {}", plan.dir.display()))
}

/// Adds `dir` to the `members` of the workspace at `root`; `false` when it is
/// already listed (or covered by a glob).
fn add_member(root: &Path, dir: &Path) -> anyhow::Result<bool> {
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let rel = relative(root, dir);
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", manifest.display()))?;
    let members: Vec<&str> = table
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let covered = members.iter().any(|m| {
        *m == rel
            || m.strip_suffix("/*")
                .is_some_and(|pre| Path::new(&rel).parent() == Some(Path::new(pre)))
    });
    if covered {
        return Ok(false);
    }
    let Some(start) = text.find("members = [") else {
        bail!(
            "{}: no `members = [` list to add {rel} to; add it yourself",
            manifest.display()
        );
    };
    let Some(close) = text[start..].find(']').map(|i| start + i) else {
        bail!("{}: the members list does not end", manifest.display());
    };
    let mut new = text[..close].trim_end().to_string();
    if !new.ends_with('[') && !new.ends_with(',') {
        new.push(',');
    }
    new += &format!("\n    \"{rel}\",\n");
    new += &text[close..];
    super::write_file(&manifest, new)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        for ok in ["trend-pullback", "a", "rsi2-fast"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["Trend", "2fast", "a--b", "a-", "a_b", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            relative(Path::new("/a/b/c"), Path::new("/a/x/y")),
            "../../x/y"
        );
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b/c")), "c");
    }

    #[test]
    fn every_placeholder_is_filled() {
        for form in [
            Form::Member,
            Form::Path("../vigil".into()),
            Form::Git {
                url: "https://example.org/vigil".into(),
                rev: Some("abc".into()),
            },
        ] {
            for (file, text) in render("trend-pullback", &form, "d.csv", "") {
                assert!(
                    !text.contains("{{"),
                    "{file} ({form:?}) keeps a placeholder"
                );
                if file == "src/lib.rs" {
                    assert!(text.contains("pub struct TrendPullback {"));
                }
            }
        }
    }
}
