//! The request as the tape keys it: everything that can change an answer —
//! provider, base URL, model, every sampling parameter, the messages and the
//! answer schema — hashed (SHA-256 over canonical JSON).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::Provider;

/// One chat message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system` or `user`.
    pub role: String,
    /// Its text.
    pub content: String,
}

/// A request to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The wire format.
    pub provider: Provider,
    /// The API base.
    pub base_url: String,
    /// The model.
    pub model: String,
    /// Sampling temperature.
    pub temperature: f64,
    /// Seed, if any.
    pub seed: Option<u64>,
    /// Completion token cap.
    pub max_tokens: u32,
    /// System and user messages.
    pub messages: Vec<Message>,
    /// The JSON schema the answer must follow.
    pub schema: Value,
}

/// Sorts object keys recursively, so equal requests serialise equally
/// whatever order their maps were built in.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

impl ChatRequest {
    /// The request's hash: hex SHA-256 of its canonical JSON.
    pub fn hash(&self) -> String {
        let v = serde_json::to_value(self).expect("a request serialises");
        let text = serde_json::to_string(&canonical(&v)).expect("JSON serialises");
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base() -> ChatRequest {
        ChatRequest {
            provider: Provider::Openai,
            base_url: "http://127.0.0.1:1/v1".into(),
            model: "m".into(),
            temperature: 0.0,
            seed: Some(1),
            max_tokens: 100,
            messages: vec![Message {
                role: "user".into(),
                content: "hello".into(),
            }],
            schema: serde_json::json!({"type": "object", "b": 1, "a": 2}),
        }
    }

    #[test]
    fn the_hash_ignores_key_order_only() {
        let a = base();
        let mut b = base();
        b.schema = serde_json::json!({"a": 2, "type": "object", "b": 1});
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 64);
    }

    proptest! {
        /// Changing any request parameter changes the hash.
        #[test]
        fn any_change_changes_the_hash(which in 0usize..8, n in 1u32..1000) {
            let a = base();
            let mut b = base();
            match which {
                0 => b.provider = Provider::Anthropic,
                1 => b.base_url.push_str(&n.to_string()),
                2 => b.model.push_str(&n.to_string()),
                3 => b.temperature = f64::from(n) / 1000.0,
                4 => b.seed = Some(1 + u64::from(n)),
                5 => b.max_tokens = 100 + n,
                6 => b.messages[0].content.push_str(&n.to_string()),
                _ => b.schema["b"] = serde_json::json!(1 + n),
            }
            prop_assert_ne!(a.hash(), b.hash());
        }
    }
}
