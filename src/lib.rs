//! mesh-render: renders one mesh description into per-cluster kustomize directories, offline.
//!
//! The pipeline runs one way (`tests/architecture.rs` enforces it):
//!
//! - the pure core, which touches no file system, environment or clock: `config` (mesh.yaml's
//!   text to a validated `Mesh`), `model` (what each cluster receives), `render` (the model to a
//!   `Tree` of files and sealed descriptors), `gitops` (the Flux and Argo CD wiring), `sops` (the
//!   SOPS format), with `templates`, `digest`, `env` (the environment as data), `pki::ca`,
//!   `pki::rotation`, `pki::state`, `pki::proof` and `shown` (how a value read from a file may
//!   appear in a message) beneath them, `template` (a tree as the one YAML stream of the
//!   objects it applies), `facts` (the clear, MAC-covered facts a sealed file carries),
//!   `releases` (the Istio release lines known, with what differs by release), `upgrade`
//!   (the stages of a canary upgrade and what each cluster runs at its stage) and `memo` (YAML
//!   parsed once per distinct text);
//! - `seal`: identities, recipients, the PKI and credentials, resolved; the sealed files planned
//!   and sealed. With `pki::store` (the PKI's files in `pki/`) and `keys` (identity files);
//! - `plan`: per path of the tree and the record, keep / write / seal / remove / refuse, with a
//!   typed reason (pure; it reads the disk only through the view it is given); `record`: the
//!   render record, read and validated in one place;
//! - `output`: the plan carried out, the record kept;
//! - `disk`: the one module that changes the file system (atomic writes, modes);
//! - `check`: a rendered tree read back and proved; `kubeconfig`: kubeconfig files read;
//! - `cli`: arguments, the environment and the clock read once, wiring, the exit-code table.

pub mod check;
pub mod cli;
pub mod config;
pub mod digest;
pub mod disk;
pub mod env;
pub mod facts;
pub mod gitops;
pub mod keys;
pub mod kubeconfig;
pub mod memo;
pub mod model;
pub mod output;
pub mod pki;
pub mod plan;
pub mod record;
pub mod releases;
pub mod render;
pub mod seal;
pub mod shown;
pub mod sops;
pub mod template;
pub mod templates;
pub mod upgrade;
pub mod values;
pub mod vocabulary;
pub mod yaml;
