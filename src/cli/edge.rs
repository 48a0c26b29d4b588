//! What the command line reads from the world and hands down: the mesh description's bytes,
//! the environment and the clock. No other module reads them itself.

use std::path::Path;

use crate::config::{self, ConfigError, Mesh, Origin};
use crate::disk;
use crate::env::Env;

/// The environment, captured once.
pub fn env() -> Env {
    Env::from_lookup(|name| std::env::var_os(name))
}

/// Now, to the second: sops's `lastmodified` and certificate validity carry no finer time.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Writes a command's report to standard output. A reader that has gone (`| head`) ends the
/// report quietly, as it ends `cat`'s; any other failure to write is the command's failure.
pub fn print(text: &[u8]) -> Result<(), super::failure::CommandError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(super::failure::CommandError::Stdout(e))
        }
        _ => Ok(()),
    }
}

/// How long a mesh description that is not a regular file is waited for.
const STREAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `--config FILE`, else ./mesh.yaml, else the built-in example.
pub fn load(config: Option<&Path>) -> Result<(Mesh, Origin), ConfigError> {
    if let Some(path) = config {
        return Ok((read(path)?, Origin::File(path.to_owned())));
    }
    let default = Path::new(config::DEFAULT_FILE);
    if default.exists() {
        return Ok((read(default)?, Origin::File(default.to_owned())));
    }
    Ok((config::example()?, Origin::BuiltinExample))
}

/// Reads and validates the mesh description at `path`.
pub fn read(path: &Path) -> Result<Mesh, ConfigError> {
    let origin = Origin::File(path.to_owned());
    // A description may come from `<(…)`: it is read up to its limit, and not waited for long.
    let limit = config::MAX_FILE_BYTES as u64;
    let bytes =
        disk::read_input(path, limit, disk::Input::Stream(STREAM_TIMEOUT)).map_err(|source| {
            ConfigError::Read {
                origin: origin.clone(),
                source,
            }
        })?;
    config::parse_bytes(&bytes, &origin)
}
