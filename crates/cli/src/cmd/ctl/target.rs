//! Where `vigil ctl` sends: an agent named by its config or by its URL, and
//! the signed request itself.

use anyhow::Context;
use rand::RngCore;
use vigil_control::SignedHeaders;

use crate::cmd::runtime;

/// A running agent's server.
pub struct Target {
    /// `http://host:port` (or `https://…`), without a trailing slash.
    base: String,
    client: reqwest::Client,
}

impl Target {
    /// `target` is a URL (`http://…`, `https://…`) or an agent config whose
    /// `[status] listen` names the server.
    pub fn resolve(target: &str) -> anyhow::Result<Target> {
        let base = if target.starts_with("http://") || target.starts_with("https://") {
            target.trim_end_matches('/').to_string()
        } else {
            let (cfg, _) = vigil_agent::config::AgentConfig::load(std::path::Path::new(target))?;
            let listen = cfg
                .status
                .listen
                .as_deref()
                .context("the agent has no [status] listen address to send commands to")?;
            let host = listen.replace("0.0.0.0", "127.0.0.1");
            let scheme = if cfg.status.tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{host}")
        };
        let mut client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
        // An agent with its own (self-signed) certificate: trust that one.
        if let Ok(path) = std::env::var("VIGIL_CA_CERT") {
            let pem = std::fs::read(&path).with_context(|| format!("VIGIL_CA_CERT {path}"))?;
            client = client.add_root_certificate(
                reqwest::Certificate::from_pem(&pem)
                    .with_context(|| format!("VIGIL_CA_CERT {path}: not a PEM certificate"))?,
            );
        }
        let client = client.build()?;
        Ok(Target { base, client })
    }

    /// Signs and posts `body` to `/v1/control/<action>`; the status and the
    /// JSON answer.
    pub fn send(
        &self,
        action: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
        runtime()?.block_on(self.send_async(action, body))
    }

    /// [`Target::send`], from async code.
    pub async fn send_async(
        &self,
        action: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
        let path = format!("/v1/control/{action}");
        let h = sign_from_env("POST", &path, &body)?;
        let headers = [
            (vigil_control::HEADER_KEY, h.key_id.clone()),
            (vigil_control::HEADER_TIMESTAMP, h.timestamp.to_string()),
            (vigil_control::HEADER_NONCE, h.nonce.clone()),
            (vigil_control::HEADER_SIGNATURE, h.signature.clone()),
        ];
        self.post_async(&path, &headers, body).await
    }

    /// Posts a JSON `body` to `path` with `headers`; the status and the JSON
    /// answer.
    pub fn post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
        runtime()?.block_on(self.post_async(path, headers, body))
    }

    async fn post_async(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .client
            .post(&url)
            .header("content-type", "application/json");
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let r = req
            .body(body)
            .send()
            .await
            .with_context(|| format!("sending to {url}"))?;
        let status = r.status();
        let text = r.text().await?;
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|_| serde_json::json!({"message": text.trim()}));
        Ok((status, v))
    }

    /// `GET /status`, with `VIGIL_READ_TOKEN` as a bearer token when set.
    pub fn status(&self) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}/status", self.base);
        runtime()?.block_on(async {
            let mut req = self.client.get(&url);
            if let Ok(token) = std::env::var("VIGIL_READ_TOKEN") {
                req = req.bearer_auth(token.trim());
            }
            let r = req.send().await.with_context(|| format!("reading {url}"))?;
            let status = r.status();
            let text = r.text().await?;
            anyhow::ensure!(
                status.is_success(),
                "{url}: {status}: {} (set VIGIL_READ_TOKEN if the agent asks for a read token)",
                text.trim()
            );
            serde_json::from_str(&text).with_context(|| format!("{url}: not JSON"))
        })
    }
}

/// Signs a request with the key the environment holds, or the keystore
/// `VIGIL_CONTROL_KEYSTORE` names (password in `VIGIL_KEYSTORE_PASSWORD`).
pub fn sign_from_env(method: &str, path: &str, body: &[u8]) -> anyhow::Result<SignedHeaders> {
    if let Ok(file) = std::env::var("VIGIL_CONTROL_KEYSTORE") {
        let password = std::env::var("VIGIL_KEYSTORE_PASSWORD")
            .context("VIGIL_CONTROL_KEYSTORE needs VIGIL_KEYSTORE_PASSWORD")?;
        let bytes = vigil_binance::open_sealed(std::path::Path::new(&file), &password)
            .map_err(|e| anyhow::anyhow!(e.0))?;
        let s: super::keys::Signer = serde_json::from_slice(&bytes)
            .map_err(|_| anyhow::anyhow!("{file}: not a vigil control keystore"))?;
        return sign_with(&s.key_id, s.hmac_secret, s.ed25519_seed, method, path, body);
    }
    let key_id = std::env::var("VIGIL_CONTROL_KEY_ID").context("set VIGIL_CONTROL_KEY_ID")?;
    let var = |n: &str| std::env::var(n).ok();
    sign_with(
        &key_id,
        var("VIGIL_CONTROL_SECRET"),
        var("VIGIL_CONTROL_ED25519"),
        method,
        path,
        body,
    )
}

fn sign_with(
    key_id: &str,
    hmac_hex: Option<String>,
    seed_hex: Option<String>,
    method: &str,
    path: &str,
    body: &[u8],
) -> anyhow::Result<SignedHeaders> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let mut nonce = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    let nonce = hex::encode(nonce);
    let decode = |v: Option<String>, name: &str| -> anyhow::Result<Option<Vec<u8>>> {
        v.map(|v| hex::decode(v.trim()).with_context(|| format!("{name} is not hex")))
            .transpose()
    };
    Ok(
        match (
            decode(hmac_hex, "the HMAC secret")?,
            decode(seed_hex, "the Ed25519 seed")?,
        ) {
            (Some(s), None) => SignedHeaders::hmac(key_id, &s, method, path, now, &nonce, body),
            (None, Some(seed)) => {
                let seed: [u8; 32] = seed.try_into().map_err(|_| {
                    anyhow::anyhow!("VIGIL_CONTROL_ED25519 must be 32 bytes of hex")
                })?;
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                SignedHeaders::ed25519(key_id, &key, method, path, now, &nonce, body)
            }
            _ => anyhow::bail!("set exactly one of VIGIL_CONTROL_SECRET and VIGIL_CONTROL_ED25519"),
        },
    )
}
