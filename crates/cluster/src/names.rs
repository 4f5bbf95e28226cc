//! The streams, subjects and consumer a cluster uses, from one prefix (so
//! several clusters, or tests, share a NATS server without meeting).

/// Names derived from a prefix (`vigil` by default).
#[derive(Clone, Debug)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// Names under `prefix`: letters, digits, `-` and `_` only (it becomes
    /// part of stream names, where `.` is not allowed).
    pub fn new(prefix: &str) -> Result<Names, String> {
        if prefix.is_empty()
            || prefix.len() > 32
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "cluster prefix `{prefix}`: 1–32 letters, digits, `-` or `_`"
            ));
        }
        Ok(Names {
            prefix: prefix.to_string(),
        })
    }

    /// The work-queue stream of jobs.
    pub fn jobs_stream(&self) -> String {
        format!(
            "{}_JOBS",
            self.prefix.to_ascii_uppercase().replace('-', "_")
        )
    }

    /// The stream of results.
    pub fn results_stream(&self) -> String {
        format!(
            "{}_RESULTS",
            self.prefix.to_ascii_uppercase().replace('-', "_")
        )
    }

    /// Every job subject (the jobs stream's).
    pub fn jobs_wildcard(&self) -> String {
        format!("{}.jobs.>", self.prefix)
    }

    /// Every result subject (the results stream's).
    pub fn results_wildcard(&self) -> String {
        format!("{}.results.>", self.prefix)
    }

    /// The subject of run `run`'s jobs.
    pub fn jobs(&self, run: &str) -> String {
        format!("{}.jobs.{run}", self.prefix)
    }

    /// The subject of run `run`'s results.
    pub fn results(&self, run: &str) -> String {
        format!("{}.results.{run}", self.prefix)
    }

    /// The durable pull consumer every worker shares.
    pub fn workers(&self) -> String {
        format!("{}-workers", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_nats_names_and_bad_prefixes_are_refused() {
        let n = Names::new("t-42_x").unwrap();
        assert_eq!(n.jobs_stream(), "T_42_X_JOBS");
        assert_eq!(n.results("abc"), "t-42_x.results.abc");
        assert_eq!(n.workers(), "t-42_x-workers");
        for bad in ["", "a.b", "a b", "a>", &"x".repeat(33)] {
            assert!(Names::new(bad).is_err(), "{bad}");
        }
    }
}
