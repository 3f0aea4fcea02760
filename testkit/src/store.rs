//! The store a kit server runs on, as `partup-server` flags.

/// The local filesystem (under the server's `--data`), or an S3-compatible store. With S3 each
/// server gets its own key `prefix`, so servers sharing a bucket never see each other's objects;
/// the credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` in the environment.
#[derive(Debug, Clone)]
pub enum TestStore {
    Fs,
    S3 {
        endpoint: String,
        bucket: String,
        region: String,
        prefix: String,
    },
}

impl TestStore {
    /// The S3 store that `scripts/s3-store.sh` started and described in `PARTUP_TEST_S3_ENDPOINT`,
    /// `PARTUP_TEST_S3_BUCKET` and `PARTUP_TEST_S3_REGION` (default `us-east-1`), under `prefix`.
    /// Panics naming the missing variable.
    pub fn s3_from_env(prefix: String) -> TestStore {
        let var =
            |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("an S3 store needs {name}"));
        TestStore::S3 {
            endpoint: var("PARTUP_TEST_S3_ENDPOINT"),
            bucket: var("PARTUP_TEST_S3_BUCKET"),
            region: std::env::var("PARTUP_TEST_S3_REGION").unwrap_or_else(|_| "us-east-1".into()),
            prefix,
        }
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, TestStore::S3 { .. })
    }

    /// The `partup-server` flags that select this store.
    pub fn server_args(&self) -> Vec<String> {
        match self {
            TestStore::Fs => Vec::new(),
            TestStore::S3 {
                endpoint,
                bucket,
                region,
                prefix,
            } => [
                "--store",
                "s3",
                "--s3-endpoint",
                endpoint,
                "--s3-bucket",
                bucket,
                "--s3-region",
                region,
                "--s3-prefix",
                prefix,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }
}
