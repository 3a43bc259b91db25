//! Puts the commit into `esxnet --version`: `ESXNET_VERSION` is the package version followed by
//! the commit it was built from, when that is known.
//!
//! The commit comes from `ESXNET_BUILD_COMMIT` (for packagers who build from a tarball and know
//! it), else from git when the sources are a git checkout and git is installed. Without either,
//! the version is the package version alone: a build never fails for want of git.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ESXNET_BUILD_COMMIT");
    let package_version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = std::env::var("ESXNET_BUILD_COMMIT")
        .ok()
        .filter(|commit| !commit.trim().is_empty())
        .map(|commit| commit.trim().to_owned())
        .or_else(commit_from_git);
    let version = match commit {
        Some(commit) => format!("{package_version} (commit {commit})"),
        None => package_version,
    };
    println!("cargo:rustc-env=ESXNET_VERSION={version}");
}

/// The checked-out commit, abbreviated; `None` outside a git checkout or without git. Asks cargo to run this again when HEAD moves.
fn commit_from_git() -> Option<String> {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let git = |arguments: &[&str]| -> Option<String> {
        let output = Command::new("git")
            .args(arguments)
            .current_dir(&manifest_dir)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).filter(|commit| !commit.is_empty())?;
    // HEAD names a branch, whose ref file moves with each commit (or is packed): watch all three.
    let git_dir = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from);
    let common_dir = git(&["rev-parse", "--git-common-dir"]).map(|dir| absolute(&manifest_dir, &dir));
    let branch = git(&["symbolic-ref", "--quiet", "HEAD"]);
    let mut watched: Vec<PathBuf> = Vec::new();
    if let Some(git_dir) = &git_dir {
        watched.push(git_dir.join("HEAD"));
    }
    if let Some(common_dir) = &common_dir {
        watched.push(common_dir.join("packed-refs"));
        if let Some(branch) = &branch {
            watched.push(common_dir.join(branch));
        }
    }
    // A path that does not exist would make cargo run this script on every build.
    for path in watched.iter().filter(|path| path.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(commit)
}

fn absolute(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}
