//! `vigil new strategy`: what it writes, where, and what it refuses. (Testing,
//! backtesting, sweeping and paper-running the scaffold — `examples/my-strategy`,
//! which the first test here proves is exactly what `vigil new` writes — is
//! `scripts/scaffold-check.sh`, which the test command runs after this suite.)

use std::path::{Path, PathBuf};
use std::process::Command;

use vigil_cli::cmd::new::{profiles_of, render, Form};

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

#[test]
fn the_example_crate_is_exactly_what_vigil_new_writes() {
    let example = root().join("examples/my-strategy");
    let files = render(
        "my-strategy",
        &Form::Member,
        "../../backtests/data/coinbase-btcusd-1h-2017-2019.csv",
        "",
    );
    assert_eq!(files.len(), 9);
    for (rel, text) in files {
        let committed = std::fs::read_to_string(example.join(rel)).unwrap();
        assert!(
            committed == text,
            "examples/my-strategy/{rel} differs from the scaffold: regenerate it with \
             `vigil new strategy my-strategy --dir examples/my-strategy` (after moving the old one away)"
        );
    }
}

#[test]
fn a_crate_outside_the_checkout_is_its_own_workspace_with_path_dependencies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plugins/trend-pullback");
    let out = vigil()
        .args(["new", "strategy", "trend-pullback", "--dir"])
        .arg(&dir)
        .arg("--vigil")
        .arg(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&cargo).unwrap();
    assert!(manifest.contains_key("workspace"), "{cargo}");
    let root_manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    assert_eq!(
        manifest.get("profile"),
        root_manifest.get("profile"),
        "vigil's build profiles, so that a shared target directory is reused"
    );
    for krate in [
        "vigil-cli",
        "vigil-core",
        "vigil-indicators",
        "vigil-strategy",
    ] {
        let path = manifest["dependencies"][krate]["path"].as_str().unwrap();
        assert!(
            dir.join(path).join("Cargo.toml").is_file(),
            "{krate}: {path} does not lead to the crate"
        );
    }
    let backtest: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("backtest.toml")).unwrap()).unwrap();
    let data = backtest["data"]["bars"][0]["path"].as_str().unwrap();
    assert!(dir.join(data).is_file(), "the shipped data at {data}");
    assert_eq!(
        std::fs::read(dir.join("Cargo.lock")).unwrap(),
        std::fs::read(root().join("Cargo.lock")).unwrap(),
        "starts from vigil's own lock file"
    );
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    assert!(lib.contains("pub struct TrendPullback {") && lib.contains("\"trend-pullback\""));
    // Nothing is left beside it.
    let siblings: Vec<_> = std::fs::read_dir(dir.parent().unwrap()).unwrap().collect();
    assert_eq!(siblings.len(), 1);

    // A second run refuses to overwrite it.
    let again = vigil()
        .args(["new", "strategy", "trend-pullback", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn inside_a_checkout_it_joins_the_workspace_members() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path();
    std::fs::create_dir_all(fake.join("crates/cli")).unwrap();
    std::fs::write(fake.join("crates/cli/Cargo.toml"), "").unwrap();
    std::fs::write(
        fake.join("Cargo.toml"),
        "[workspace]\nmembers = [\n    \"crates/cli\",\n]\n\n[workspace.package]\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let out = vigil()
        .args(["new", "strategy", "mean-revert", "--vigil"])
        .arg(fake)
        .arg("--dir")
        .arg(fake.join("strategies/mean-revert"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root: toml::Table =
        toml::from_str(&std::fs::read_to_string(fake.join("Cargo.toml")).unwrap()).unwrap();
    let members: Vec<&str> = root["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(members, ["crates/cli", "strategies/mean-revert"]);
    let cargo = std::fs::read_to_string(fake.join("strategies/mean-revert/Cargo.toml")).unwrap();
    assert!(cargo.contains("vigil-strategy.workspace = true"), "{cargo}");
    assert!(!fake.join("strategies/mean-revert/Cargo.lock").exists());
}

#[test]
fn bad_and_taken_names_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, says) in [
        ("TrendPullback", "lower-case"),
        ("2fast", "starting with a letter"),
        ("sma-cross", "already a registered strategy"),
    ] {
        let out = vigil()
            .args(["new", "strategy", name, "--vigil"])
            .arg(root())
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{name}: {err}");
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

/// One marked block of the tutorial: the marker's words and the block's text.
struct Marked {
    kind: String,
    args: Vec<String>,
    text: String,
}

/// The blocks of a Markdown file preceded by `<!-- kind: args -->`, and the
/// fences of code (```rust,ignore / ```toml) that carry no marker.
fn marked_blocks(md: &str) -> (Vec<Marked>, Vec<usize>) {
    let lines: Vec<&str> = md.lines().collect();
    let (mut out, mut unmarked) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let marker = line
            .strip_prefix("<!-- ")
            .and_then(|l| l.strip_suffix(" -->"))
            .and_then(|l| l.split_once(": "));
        let fence = line.starts_with("```") && line.len() > 3;
        if marker.is_none() && fence {
            if line == "```toml" || line.starts_with("```rust,ignore") {
                unmarked.push(i + 1);
            }
            // Skip to the closing fence.
            i += 1;
            while i < lines.len() && lines[i] != "```" {
                i += 1;
            }
        }
        if let Some((kind, args)) = marker {
            assert!(
                lines[i + 1].starts_with("```"),
                "line {}: a marker without a block",
                i + 1
            );
            let mut text = String::new();
            let mut j = i + 2;
            while lines[j] != "```" {
                text += lines[j];
                text.push('\n');
                j += 1;
            }
            out.push(Marked {
                kind: kind.to_string(),
                args: args.split_whitespace().map(String::from).collect(),
                text,
            });
            i = j;
        }
        i += 1;
    }
    (out, unmarked)
}

#[test]
fn the_tutorial_shows_every_file_as_it_is() {
    let md = std::fs::read_to_string(root().join("docs/writing-a-strategy.md")).unwrap();
    let (blocks, unmarked) = marked_blocks(&md);
    assert!(
        unmarked.is_empty(),
        "code blocks nothing checks, at lines {unmarked:?}"
    );
    let mut files: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for b in &blocks {
        match b.kind.as_str() {
            // A file in full, possibly in parts separated by one blank line.
            "file" => files
                .entry(b.args[0].clone())
                .or_default()
                .push(b.text.clone()),
            "excerpt" => {
                let text = std::fs::read_to_string(root().join(&b.args[0])).unwrap();
                assert!(
                    text.contains(&b.text),
                    "{} no longer holds:\n{}",
                    b.args[0],
                    b.text
                );
            }
            "scaffold" => {
                let form = match b.args[0].as_str() {
                    "path" => Form::Path(b.args[1].clone()),
                    "git" => Form::Git {
                        url: b.args[1].clone(),
                        rev: b.args.get(2).cloned(),
                    },
                    other => panic!("unknown scaffold form {other}"),
                };
                let profiles = match form {
                    Form::Path(_) => profiles_of(&root()).unwrap(),
                    _ => String::new(),
                };
                let cargo = render("my-strategy", &form, "unused", &profiles)
                    .into_iter()
                    .find(|(f, _)| *f == "Cargo.toml")
                    .unwrap()
                    .1;
                assert_eq!(b.text, cargo, "the {} form of Cargo.toml", b.args[0]);
            }
            other => panic!("unknown marker {other}"),
        }
    }
    for (path, parts) in &files {
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        assert!(
            parts.join("\n") == text,
            "{path}: the tutorial's blocks differ from the file"
        );
    }
    for f in [
        "Cargo.toml",
        "src/lib.rs",
        "src/main.rs",
        "tests/strategy.rs",
        "backtest.toml",
        "sweep.toml",
        "paper.toml",
    ] {
        assert!(
            files.contains_key(&format!("examples/my-strategy/{f}")),
            "the tutorial does not show {f}"
        );
    }
}
