//! Every agent config the repository ships under examples/ loads and validates,
//! and every file a replay feed names exists: an example that cannot start is a
//! broken promise.

use vigil_agent::config::{AgentConfig, FeedKind};
use vigil_testkit::root;

#[test]
fn shipped_agent_configs_load_and_name_existing_files() {
    let mut checked = 0;
    for dir in ["examples/paper", "examples/live"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let (cfg, file) = AgentConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            if cfg.feed.kind == FeedKind::Replay {
                for bars in &cfg.feed.bars {
                    for data in bars.path.expand(&file.dir()).unwrap() {
                        assert!(
                            data.exists(),
                            "{}: {} does not exist",
                            path.display(),
                            data.display()
                        );
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} configs found");
}
