//! Distributed sweeps against the real NATS server (JetStream) on
//! 127.0.0.1:4222: three `vigil worker` processes, one SIGKILLed while it runs
//! a job, give JSON byte-identical to the local sweep, with no job lost or
//! counted twice; a worker whose data differs refuses the job.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use vigil_testkit::{shipped, write_head, ConfigToml, BTCUSDT_1M};

const NATS: &str = "nats://127.0.0.1:4222";

/// Whether the NATS server is there; CI (VIGIL_REQUIRE_NATS=1) fails without it.
fn nats_up() -> bool {
    if std::net::TcpStream::connect("127.0.0.1:4222").is_ok() {
        return true;
    }
    assert!(
        std::env::var("VIGIL_REQUIRE_NATS").as_deref() != Ok("1"),
        "VIGIL_REQUIRE_NATS=1 but no NATS server answers on 127.0.0.1:4222"
    );
    eprintln!("SKIPPED: no NATS server on 127.0.0.1:4222");
    false
}

/// A prefix no other run uses, and its streams removed when dropped.
struct Prefix(String);

impl Prefix {
    fn new() -> Prefix {
        let n: u64 = rand_u64();
        Prefix(format!("t{n:x}"))
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let names = vigil_cluster::Names::new(&self.0).unwrap();
        let _ = vigil_cluster::coordinator::remove(NATS, &names);
    }
}

/// 24 sma-cross sets over 20,000 one-minute bars.
fn setup(dir: &Path) -> PathBuf {
    write_head(&shipped(BTCUSDT_1M), 20_000, &dir.join("bars.csv"));
    let cfg = ConfigToml::btcusdt("sma-cross", "fast = 5\nslow = 20").with(
        "[venue]\ntaker_fee_bps = 10\nmaker_fee_bps = 2\nslippage_bps = 1\n\n\
         [risk]\nmax_position_weight = 0.9\nstop_loss_pct = 0.004",
    );
    std::fs::write(dir.join("bt.toml"), cfg.backtest("bars.csv", "1m")).unwrap();
    std::fs::write(
        dir.join("sweep.toml"),
        "backtest = \"bt.toml\"\npbo_blocks = 4\n[params]\nfast = [2, 3, 4, 5, 6, 8]\nslow = [20, 30, 45, 60]\n",
    )
    .unwrap();
    dir.join("sweep.toml")
}

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

/// `vigil worker` on `root`; its stderr lines go to `tx` tagged with `id`.
fn worker(prefix: &str, root: &Path, id: usize, tx: mpsc::Sender<(usize, String)>) -> Child {
    let mut child = vigil()
        .args([
            "worker",
            "--cluster",
            NATS,
            "--cluster-prefix",
            prefix,
            "--threads",
            "1",
        ])
        .args(["--name", &format!("w{id}"), "--root"])
        .arg(root)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send((id, line)).is_err() {
                break;
            }
        }
    });
    child
}

/// `vigil sweep <sweep> --cluster …` in the background.
fn coordinator(prefix: &str, root: &Path, sweep: &Path, json: &Path, job_sets: &str) -> Child {
    vigil()
        .arg("sweep")
        .arg(sweep)
        .args([
            "--cluster",
            NATS,
            "--cluster-prefix",
            prefix,
            "--job-sets",
            job_sets,
        ])
        .args(["--ack-wait", "2s", "--root"])
        .arg(root)
        .arg("--json")
        .arg(json)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (up to 120 s) for a line from `rx` that `want` accepts.
fn line_until(
    rx: &mpsc::Receiver<(usize, String)>,
    want: impl Fn(usize, &str) -> bool,
) -> (usize, String) {
    loop {
        let (id, line) = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("waited 120 s for a worker's line");
        if want(id, &line) {
            return (id, line);
        }
    }
}

/// The value of `key=` in a log line.
fn field(line: &str, key: &str) -> String {
    let at = line
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    line[at + key.len() + 1..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .trim_matches('"')
        .to_string()
}

fn finish(mut c: Child) -> String {
    let out = std::mem::take(&mut c.stderr);
    let mut err = String::new();
    if let Some(mut e) = out {
        std::io::Read::read_to_string(&mut e, &mut err).unwrap();
    }
    let status = c.wait().unwrap();
    assert!(status.success(), "the coordinator failed: {err}");
    err
}

#[test]
fn a_sweep_over_three_workers_one_killed_mid_job_equals_the_local_sweep() {
    if !nats_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let sweep = setup(&root);
    let local = root.join("local.json");
    let st = vigil()
        .arg("sweep")
        .arg(&sweep)
        .args(["--threads", "2", "--json"])
        .arg(&local)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    let prefix = Prefix::new();
    let (tx, rx) = mpsc::channel();
    let mut workers: Vec<Child> = (0..3)
        .map(|i| worker(&prefix.0, &root, i, tx.clone()))
        .collect();
    let remote = root.join("cluster.json");
    let coord = coordinator(&prefix.0, &root, &sweep, &remote, "3");

    // Worker 0 takes a job: SIGKILL it while the job runs.
    let (_, line) = line_until(&rx, |id, l| id == 0 && l.contains("running job"));
    workers[0].kill().unwrap();
    let _ = workers[0].wait();
    let killed = field(&line, "job");
    // Its job comes back (after the 2-s ack deadline) to another worker.
    let (other, again) = line_until(&rx, |_, l| {
        l.contains("running job") && field(l, "job") == killed && field(l, "delivered") != "1"
    });
    assert_ne!(other, 0, "{again}");

    let log = finish(coord);
    for w in &mut workers[1..] {
        w.kill().unwrap();
        let _ = w.wait();
    }
    let (a, b) = (
        std::fs::read_to_string(&local).unwrap(),
        std::fs::read_to_string(&remote).unwrap(),
    );
    assert!(
        a == b,
        "the cluster's JSON differs from the local sweep's:\n{a}\n---\n{b}"
    );
    let report: serde_json::Value = serde_json::from_str(&b).unwrap();
    let mut seen: Vec<u64> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..24).collect::<Vec<u64>>(), "each set once");
    assert!(log.contains("cluster: 8 jobs"), "{log}");
    assert!(
        !log.contains(" 0 ran again"),
        "the killed job ran again: {log}"
    );
}

#[test]
fn a_worker_whose_data_differs_refuses_the_job() {
    if !nats_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("good");
    std::fs::create_dir(&root).unwrap();
    let root = root.canonicalize().unwrap();
    let sweep = setup(&root);
    // Another machine's copy: the same paths, one price changed.
    let stale = dir.path().join("stale");
    std::fs::create_dir(&stale).unwrap();
    for f in ["bt.toml", "sweep.toml", "bars.csv"] {
        std::fs::copy(root.join(f), stale.join(f)).unwrap();
    }
    let bars = std::fs::read_to_string(stale.join("bars.csv")).unwrap();
    let at = bars.match_indices('\n').nth(500).unwrap().0 + 1;
    let line_end = at + bars[at..].find('\n').unwrap();
    let mut row: Vec<String> = bars[at..line_end].split(',').map(String::from).collect();
    row[4] = format!("{}1", row[4]);
    let changed = format!("{}{}{}", &bars[..at], row.join(","), &bars[line_end..]);
    std::fs::write(stale.join("bars.csv"), changed).unwrap();

    let prefix = Prefix::new();
    let (tx, rx) = mpsc::channel();
    let mut bad = worker(&prefix.0, &stale, 0, tx.clone());
    let remote = root.join("cluster.json");
    let coord = coordinator(&prefix.0, &root, &sweep, &remote, "24");
    let (_, refused) = line_until(&rx, |_, l| l.contains("refused job"));
    assert!(
        refused.contains("bars.csv") && refused.contains("SHA-256"),
        "{refused}"
    );
    bad.kill().unwrap();
    let _ = bad.wait();
    // A worker with the coordinator's files runs it.
    let mut good = worker(&prefix.0, &root, 1, tx);
    let log = finish(coord);
    good.kill().unwrap();
    let _ = good.wait();
    assert!(
        log.contains("worker w0 refused job 0") && log.contains("bars.csv"),
        "{log}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&remote).unwrap()).unwrap();
    assert_eq!(report["rows"].as_array().unwrap().len(), 24);
}
