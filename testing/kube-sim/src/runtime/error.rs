//! What can go wrong on the Docker side, with enough context for a Kubernetes `Status`.

/// An error of the runtime; `http_status` maps it onto the API's status code.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The pod, container or namespace does not exist (404).
    #[error("{what} not found")]
    NotFound {
        /// E.g. `pod default/web` or `container app in pod default/web`.
        what: String,
    },
    /// The request cannot be served as asked (400), e.g. no container named and several exist.
    #[error("{0}")]
    BadRequest(String),
    /// The Docker engine refused or failed an operation.
    #[error("{context}: {source}")]
    Docker {
        /// What the runtime was doing.
        context: String,
        /// bollard's error.
        #[source]
        source: bollard::errors::Error,
    },
    /// The pod refers to something it cannot use (missing image, configmap, key…).
    #[error("{0}")]
    Config(String),
    /// A local I/O failure (building an image context, a tar archive).
    #[error("{context}: {source}")]
    Io {
        /// What the runtime was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl RuntimeError {
    /// The HTTP status code the API server should answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            RuntimeError::NotFound { .. } => 404,
            RuntimeError::BadRequest(_) => 400,
            RuntimeError::Config(_) => 422,
            RuntimeError::Docker { .. } | RuntimeError::Io { .. } => 500,
        }
    }

    /// Wraps a bollard error with what was being done.
    pub(crate) fn docker(context: impl Into<String>, source: bollard::errors::Error) -> Self {
        RuntimeError::Docker {
            context: context.into(),
            source,
        }
    }
}
