//! `vigil signals` as a user types it: secrets made and rotated (mode 0600),
//! and a signal signed and sent to a running paper agent, refused when re-sent.

mod support;

use std::path::Path;

use support::{free_port, start_controlled, vigil};
use vigil_testkit::{shipped, write_head, ConfigToml, BTCUSDT_1M};

fn send(agent: &Path, secret: &str, id: &str) -> std::process::Output {
    vigil()
        .args(["signals", "send"])
        .arg(agent)
        .args([
            "--instrument",
            "BTCUSDT",
            "--direction",
            "-1",
            "--ttl",
            "15m",
        ])
        .args(["--source", "cli-test", "--id", id])
        .env("VIGIL_SIGNAL_SECRET", secret)
        .output()
        .unwrap()
}

#[test]
fn secrets_are_made_0600_and_a_sent_signal_is_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.toml");
    for _ in 0..2 {
        let out = vigil()
            .args(["signals", "secret"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        // The secret itself is never printed.
        assert!(!String::from_utf8_lossy(&out.stderr).contains("whsec_"));
        assert!(out.stdout.is_empty());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let secrets = vigil_agent::signals::load_secrets(&file).unwrap();
    assert_eq!(secrets.len(), 2, "a rotation adds, never replaces");
    let text = std::fs::read_to_string(&file).unwrap();
    let newest = text
        .split('"')
        .rfind(|s| s.starts_with("whsec_"))
        .unwrap()
        .to_string();

    write_head(&shipped(BTCUSDT_1M), 3000, &dir.path().join("bars.csv"));
    let port = free_port();
    let agent =
        ConfigToml::btcusdt("signal-follow", "").agent("cli-signals", "bars.csv", "1m", Some(600))
            + &format!(
        "\n[status]\nlisten = \"127.0.0.1:{port}\"\n\n[signals]\nsecrets = \"secrets.toml\"\n"
    );
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, agent).unwrap();
    let mut child = start_controlled(&path);
    let out = send(&path, &newest, "cli_1");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("\"accepted\": true"), "{said}");
    let again = send(&path, &newest, "cli_1");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(!again.status.success(), "{said}");
    assert!(said.contains("duplicate"), "{said}");
    // A secret the agent does not hold.
    let wrong = send(
        &path,
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "cli_2",
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&wrong.stdout),
        String::from_utf8_lossy(&wrong.stderr)
    );
    assert!(
        !wrong.status.success() && said.contains("bad_signature"),
        "{said}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let csv = std::fs::read_to_string(dir.path().join("cli-signals-signals.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(",cli_1,BTCUSDT,-1,,cli-test,"), "{csv}");
}
