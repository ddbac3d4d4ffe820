//! The command line of the `discovery` example: which group the consumer
//! joins (`--group`, or `MINIRPC_GROUP`), and which registry it uses
//! (`--etcd URL`, or a `MemoryRegistry` in the process).
//!
//! The group is the point: moving a consumer to the canary is a change of
//! configuration, not of code (原理 › 分组部署).

/// What `--help` prints, and what a mistake on the command line is told.
pub const USAGE: &str = "usage: discovery [--group GROUP] [--etcd URL]
  --group GROUP  the consumer's group: stable (default) or canary; also MINIRPC_GROUP
  --etcd URL     use the etcd at URL (e.g. http://127.0.0.1:2379) instead of a MemoryRegistry";

/// The parsed command line.
pub struct Args {
    /// The consumer's group: `--group`, else `MINIRPC_GROUP`, else `stable`.
    pub group: String,
    /// The etcd to use, if any.
    pub etcd: Option<String>,
}

/// Parse the arguments (without the program's name), with `env_group` the
/// value of `MINIRPC_GROUP`. A flag takes its value as the next argument or
/// after `=` (`--group canary`, `--group=canary`). `Ok(None)`: help was
/// asked for; `Err`: what was wrong.
pub fn parse(
    mut args: impl Iterator<Item = String>,
    env_group: Option<String>,
) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        group: env_group
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| "stable".to_owned()),
        etcd: None,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--group" => parsed.group = value()?,
            "--etcd" => parsed.etcd = Some(value()?),
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(parsed))
}
