//! Where attached files live: one interface ([`object_store::ObjectStore`]) over a local
//! directory (the default, beside the embedded database) and S3-compatible object storage
//! (`MCU_STORAGE_URL=s3://bucket/prefix`, credentials and endpoint from the usual `AWS_*`
//! variables). Files are written and read in chunks, never held in memory whole.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::config::Settings;
use crate::error::{AppError, ConfigError};

/// Parts written to the store at once while a file is uploaded: the memory an upload takes
/// is about `(PARALLEL_PARTS + 1) × PART_BYTES` whatever the file's size.
const PARALLEL_PARTS: usize = 2;
/// The size of a part (the smallest S3 allows for every part but the last).
const PART_BYTES: usize = 5 * 1024 * 1024;

/// The store of attached files.
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Where it is, for the log (no credentials).
    pub describe: String,
}

/// A stored object's size and its stream of bytes (one range or whole).
pub struct Download {
    pub size: u64,
    pub stream: futures_util::stream::BoxStream<'static, Result<Bytes, object_store::Error>>,
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("file storage: {e}"))
}

impl Storage {
    /// The store `MCU_STORAGE_URL` names, or the directory `<database file>.files` beside an
    /// embedded database (`./files` with PostgreSQL).
    ///
    /// # Errors
    /// A [`ConfigError`] for a URL that is neither `file://` nor `s3://`, or a directory that
    /// cannot be created.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let bad = |why: String| ConfigError { setting: "MCU_STORAGE_URL", why };
        let dir = match settings.storage_url.as_deref() {
            Some(url) if url.starts_with("s3://") => {
                let parsed = url::Url::parse(url).map_err(|e| bad(format!("is not a URL ({e})")))?;
                let bucket =
                    parsed.host_str().filter(|b| !b.is_empty()).ok_or_else(|| bad("names no bucket".into()))?;
                let prefix = parsed.path().trim_matches('/').to_string();
                let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
                // Options in the query override the environment, by `object_store`'s names:
                // `?endpoint=http://127.0.0.1:9000&allow_http=true&region=ru-central1`.
                for (key, value) in parsed.query_pairs() {
                    let option = key
                        .parse::<object_store::aws::AmazonS3ConfigKey>()
                        .map_err(|_| bad(format!("'{key}' is not an S3 option")))?;
                    builder = builder.with_config(option, value.into_owned());
                }
                let s3 = builder.build().map_err(|e| bad(format!("S3 settings are incomplete ({e})")))?;
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(object_store::prefix::PrefixStore::new(s3, prefix.as_str()))
                };
                return Ok(Self { store, describe: format!("s3://{bucket}/{prefix}") });
            }
            Some(url) => {
                let path = url
                    .strip_prefix("file://")
                    .ok_or_else(|| bad("must be file:///path/to/dir or s3://bucket/prefix".into()))?;
                std::path::PathBuf::from(path)
            }
            None => match settings.sqlite_path() {
                Some(db) => std::path::PathBuf::from(format!("{}.files", db.display())),
                None => std::path::PathBuf::from("files"),
            },
        };
        Self::local(&dir).map_err(|e| bad(format!("cannot use the directory {} ({e})", dir.display())))
    }

    /// A store in a local directory (created if missing).
    ///
    /// # Errors
    /// When the directory cannot be created or opened.
    pub fn local(dir: &std::path::Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(|e| e.to_string())?;
        Ok(Self { store: Arc::new(fs), describe: format!("file://{}", dir.display()) })
    }

    /// Writes the file at `key` from `file`, in parts; on failure nothing is left.
    ///
    /// # Errors
    /// `INTERNAL` when the store refuses or cannot be reached.
    pub async fn put_file(&self, key: &str, file: std::fs::File) -> Result<(), AppError> {
        let path = Path::from(key);
        let upload = self.store.put_multipart(&path).await.map_err(internal)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut file = tokio::fs::File::from_std(file);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(internal(e));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = writer.wait_for_capacity(PARALLEL_PARTS).await {
                let _ = writer.abort().await;
                return Err(internal(e));
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await.map_err(internal)?;
        Ok(())
    }

    /// Writes a small object (a thumbnail, a picture stripped of its metadata) at once.
    ///
    /// # Errors
    /// `INTERNAL` when the store refuses or cannot be reached.
    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), AppError> {
        self.store.put(&Path::from(key), PutPayload::from(bytes)).await.map_err(internal)?;
        Ok(())
    }

    /// Reads the object at `key`, the bytes `first..=last` of it or all.
    ///
    /// # Errors
    /// `NOT_FOUND` when it is not there, `INTERNAL` when the store fails.
    pub async fn get(&self, key: &str, range: Option<(u64, u64)>) -> Result<Download, AppError> {
        let options = GetOptions { range: range.map(|(a, b)| GetRange::Bounded(a..b + 1)), ..GetOptions::default() };
        let got = self.store.get_opts(&Path::from(key), options).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => AppError::NotFound("file".into()),
            e => internal(e),
        })?;
        let size = got.meta.size;
        Ok(Download { size, stream: got.into_stream() })
    }

    /// Deletes the object at `key`; one that is not there counts as deleted.
    ///
    /// # Errors
    /// `INTERNAL` when the store fails.
    pub async fn delete(&self, key: &str) -> Result<(), AppError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(internal(e)),
        }
    }

    /// The keys under `prefix` last written before `before`.
    ///
    /// # Errors
    /// `INTERNAL` when the store fails.
    pub async fn keys_older_than(&self, prefix: &str, before: DateTime<Utc>) -> Result<Vec<String>, AppError> {
        let prefix = Path::from(prefix);
        self.store
            .list(Some(&prefix))
            .try_filter(|m| futures_util::future::ready(m.last_modified < before))
            .map_ok(|m| m.location.to_string())
            .try_collect::<Vec<_>>()
            .await
            .map_err(internal)
    }

    /// Whether an object is at `key`.
    ///
    /// # Errors
    /// `INTERNAL` when the store fails.
    pub async fn exists(&self, key: &str) -> Result<bool, AppError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(internal(e)),
        }
    }

    /// Reads a whole small object into memory (tests, thumbnails).
    ///
    /// # Errors
    /// `NOT_FOUND` or `INTERNAL` as [`Self::get`].
    pub async fn read_all(&self, key: &str) -> Result<Vec<u8>, AppError> {
        let d = self.get(key, None).await?;
        let mut out = Vec::with_capacity(usize::try_from(d.size).unwrap_or(0));
        let mut s = d.stream;
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk.map_err(internal)?);
        }
        Ok(out)
    }
}
