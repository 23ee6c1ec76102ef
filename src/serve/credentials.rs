//! A repository's credentials: the forge API token statuses are posted with, and what git
//! clones a private repository with (an HTTPS token through a credential helper, or a deploy
//! key through `GIT_SSH_COMMAND`). They are read from a file or an environment variable the
//! operator names, when needed, and live only in memory and in the environment of the one
//! process that uses them: never on a command line, in a URL, the database or a log. Errors
//! name the repository, the kind of credential and the setting, never the value.

use super::config::{RepoConfig, origin_of};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A credential's value; its `Debug` does not show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A secret for the request builders' tests.
#[cfg(test)]
pub fn tests_secret(value: &str) -> Secret {
    Secret(value.to_string())
}

/// What a credential is for, as errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The forge API token (`forge_token_file`/`forge_token_env`).
    ForgeToken,
    /// The HTTPS clone token (`clone_token_file`/`clone_token_env`).
    CloneToken,
    /// The SSH deploy key (`ssh_key_file` with `known_hosts_file`).
    SshKey,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::ForgeToken => "forge API token",
            Kind::CloneToken => "HTTPS clone token",
            Kind::SshKey => "SSH deploy key",
        })
    }
}

/// A credential that cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Its file cannot be read.
    #[error("repository {repository}: cannot read its {kind} ({setting} {}): {source}", path.display())]
    File {
        /// The repository's name.
        repository: String,
        /// What it is for.
        kind: Kind,
        /// The setting naming the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// Its environment variable is unset or not Unicode.
    #[error("repository {repository}: its {kind} variable {variable} ({setting}) is not set")]
    Unset {
        /// The repository's name.
        repository: String,
        /// What it is for.
        kind: Kind,
        /// The setting naming the variable.
        setting: &'static str,
        /// The variable's name.
        variable: String,
    },
    /// It is empty.
    #[error("repository {repository}: its {kind} ({setting}) is empty")]
    Empty {
        /// The repository's name.
        repository: String,
        /// What it is for.
        kind: Kind,
        /// The setting.
        setting: &'static str,
    },
}

/// The credential `file` or `variable` holds (surrounding white space removed); `None` when
/// neither is configured.
fn read(
    repository: &str,
    kind: Kind,
    (file_setting, file): (&'static str, Option<&Path>),
    (env_setting, variable): (&'static str, Option<&str>),
) -> Result<Option<Secret>, CredentialError> {
    let (setting, value) = if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialError::File {
            repository: repository.to_string(),
            kind,
            setting: file_setting,
            path: path.to_path_buf(),
            source,
        })?;
        (file_setting, text)
    } else if let Some(name) = variable {
        let text = std::env::var(name).map_err(|_| CredentialError::Unset {
            repository: repository.to_string(),
            kind,
            setting: env_setting,
            variable: name.to_string(),
        })?;
        (env_setting, text)
    } else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(CredentialError::Empty {
            repository: repository.to_string(),
            kind,
            setting,
        });
    }
    Ok(Some(Secret(value.to_string())))
}

/// The forge API token of `repo` (`None`: not configured).
pub fn forge_token(repo: &RepoConfig) -> Result<Option<Secret>, CredentialError> {
    read(
        &repo.name,
        Kind::ForgeToken,
        ("forge_token_file", repo.forge_token_file.as_deref()),
        ("forge_token_env", repo.forge_token_env.as_deref()),
    )
}

/// How git authenticates to `repo`'s source: the environment of every git process that
/// talks to it, and which credential that is (for error messages). Its `Debug` shows the
/// variables' names only.
#[derive(Default)]
pub struct GitAuth {
    /// Variables to set on the git process.
    pub env: Vec<(OsString, OsString)>,
    /// The credential in use (`None`: the server user's own git set-up).
    pub kind: Option<Kind>,
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAuth")
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("kind", &self.kind)
            .finish()
    }
}

/// Variable the credential helper reads the clone token from (only ever set on git).
const TOKEN_VAR: &str = "GANTRY_GIT_TOKEN";
/// Variable the credential helper reads the user name from.
const USER_VAR: &str = "GANTRY_GIT_USERNAME";

/// The git environment of `repo`: with a clone token, a credential helper for the source's
/// host only (so submodules there use it and no other host ever sees it), configured through
/// `GIT_CONFIG_*` and answering from the process's environment; with a deploy key,
/// `GIT_SSH_COMMAND` with that key alone and the pinned host keys, strictly checked.
pub fn git_auth(repo: &RepoConfig) -> Result<GitAuth, CredentialError> {
    let token = read(
        &repo.name,
        Kind::CloneToken,
        ("clone_token_file", repo.clone_token_file.as_deref()),
        ("clone_token_env", repo.clone_token_env.as_deref()),
    )?;
    if let Some(token) = token {
        let host = origin_of(&repo.source).unwrap_or_else(|| repo.source.clone());
        // The helper is a shell function git runs with the action as its argument: it answers
        // `get` only, from the two variables, so the token is in no file and no argument.
        let helper = format!(
            "!f() {{ test \"$1\" = get || exit 0; echo \"username=${USER_VAR}\"; echo \"password=${TOKEN_VAR}\"; }}; f"
        );
        let config = [
            // An empty value first: git forgets the helpers of the user's own config.
            ("credential.helper".to_string(), String::new()),
            (format!("credential.{host}.helper"), helper),
        ];
        return Ok(GitAuth {
            env: config_env(&config)
                .into_iter()
                .chain([
                    (TOKEN_VAR.into(), token.expose().into()),
                    (
                        USER_VAR.into(),
                        repo.clone_username.as_deref().unwrap_or("oauth2").into(),
                    ),
                ])
                .collect(),
            kind: Some(Kind::CloneToken),
        });
    }
    if let (Some(key), Some(known)) = (&repo.ssh_key_file, &repo.known_hosts_file) {
        // Read here only to fail with the repository's name when the key is missing.
        std::fs::metadata(key).map_err(|source| CredentialError::File {
            repository: repo.name.clone(),
            kind: Kind::SshKey,
            setting: "ssh_key_file",
            path: key.clone(),
            source,
        })?;
        std::fs::metadata(known).map_err(|source| CredentialError::File {
            repository: repo.name.clone(),
            kind: Kind::SshKey,
            setting: "known_hosts_file",
            path: known.clone(),
            source,
        })?;
        let command = format!(
            "ssh -i {} -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
            quote(key),
            quote(known)
        );
        return Ok(GitAuth {
            env: vec![("GIT_SSH_COMMAND".into(), command.into())],
            kind: Some(Kind::SshKey),
        });
    }
    Ok(GitAuth::default())
}

/// `GIT_CONFIG_COUNT`, `GIT_CONFIG_KEY_n`, `GIT_CONFIG_VALUE_n` for `pairs`: configuration
/// git reads from its environment, never shown by `ps`.
fn config_env(pairs: &[(String, String)]) -> Vec<(OsString, OsString)> {
    let mut env = vec![("GIT_CONFIG_COUNT".into(), pairs.len().to_string().into())];
    for (i, (k, v)) in pairs.iter().enumerate() {
        env.push((format!("GIT_CONFIG_KEY_{i}").into(), k.into()));
        env.push((format!("GIT_CONFIG_VALUE_{i}").into(), v.into()));
    }
    env
}

/// `path` as one word for the shell git runs `GIT_SSH_COMMAND` with.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(source: &str) -> RepoConfig {
        toml::from_str(&format!("name = \"org/app\"\nsource = \"{source}\"\n")).unwrap()
    }

    #[test]
    fn a_clone_token_reaches_git_only_through_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret-token\n").unwrap();
        let mut r = repo("http://127.0.0.1:3000/org/app.git");
        r.clone_token_file = Some(file);
        let auth = git_auth(&r).unwrap();
        assert_eq!(auth.kind, Some(Kind::CloneToken));
        let get = |k: &str| {
            auth.env
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get(TOKEN_VAR).as_deref(), Some("s3cret-token"));
        assert_eq!(
            get("GIT_CONFIG_KEY_1").as_deref(),
            Some("credential.http://127.0.0.1:3000.helper"),
            "the helper answers for the source's host only"
        );
        let helper = get("GIT_CONFIG_VALUE_1").unwrap();
        assert!(!helper.contains("s3cret"), "{helper}");
        assert!(!format!("{auth:?}").contains("s3cret"), "{auth:?}");
    }

    #[test]
    fn missing_credentials_name_repository_kind_and_setting_not_value() {
        let mut r = repo("https://example.com/org/app.git");
        r.clone_token_file = Some("/nonexistent/clone-token".into());
        let e = git_auth(&r).unwrap_err().to_string();
        assert!(
            e.contains("org/app") && e.contains("HTTPS clone token"),
            "{e}"
        );
        assert!(e.contains("clone_token_file"), "{e}");
        let unset = "GANTRY_TEST_SURELY_UNSET_VARIABLE";
        r.clone_token_file = None;
        r.forge_token_env = Some(unset.into());
        let e = forge_token(&r).unwrap_err().to_string();
        assert!(e.contains("forge API token") && e.contains(unset), "{e}");
        assert_eq!(format!("{:?}", Secret("x-value".into())), "Secret(***)");
    }

    #[test]
    fn a_deploy_key_pins_its_host_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (key, known) = (dir.path().join("id's key"), dir.path().join("known_hosts"));
        std::fs::write(&key, "k").unwrap();
        std::fs::write(&known, "h").unwrap();
        let mut r = repo("ssh://git@127.0.0.1:2222/org/app.git");
        r.ssh_key_file = Some(key);
        r.known_hosts_file = Some(known);
        let auth = git_auth(&r).unwrap();
        let (name, cmd) = &auth.env[0];
        assert_eq!(name, "GIT_SSH_COMMAND");
        let cmd = cmd.to_string_lossy();
        assert!(cmd.contains("StrictHostKeyChecking=yes"), "{cmd}");
        assert!(cmd.contains(r"id'\''s key'"), "quoted for the shell: {cmd}");
    }
}
