//! The shipped deployment files run as the engines would run them, on this
//! machine: `deploy/github-actions/possim-sweep.yml` step by step as a
//! runner would (expressions substituted, GITHUB_* files, artifacts passed
//! from the shard jobs to the merge job), and
//! `deploy/kubernetes/possim-sweep-job.yaml` as its Jobs' containers (each
//! index with its JOB_COMPLETION_INDEX, the volume a temporary directory).
//! Each merged report must equal a single-machine sweep of the same seeds,
//! up to the timing fields. The commands run are the files' own, so a
//! change to either file that breaks them fails here.
//!
//! The one thing replaced is the seed range (a few seeds, not thousands):
//! the workflow's `seeds` input, and the Job's SEEDS.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const SCENARIO: &str = "scenarios/quickstart.yaml";
const SEEDS: &str = "0..6";

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("possim-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn yaml_documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    serde_saphyr::from_multiple(&text).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Copies a file, or a directory's files recursively, to `to`.
fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
}

/// What a checkout of this repository gives a job: the scenarios.
fn checkout(workspace: &Path) {
    copy(&root().join("scenarios"), &workspace.join("scenarios"));
}

/// A single machine's `possim sweep SCENARIO --seeds SEEDS --out DIR`, in a
/// checkout: the report the merged ones must equal; and its exit code.
fn single_sweep(dir: &Path) -> (PathBuf, i32) {
    let workspace = dir.join("single");
    checkout(&workspace);
    let status = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["sweep", SCENARIO, "--seeds", SEEDS, "--out", "report"])
        .current_dir(&workspace)
        .output()
        .unwrap();
    (workspace.join("report"), status.status.code().unwrap())
}

/// `PATH` with `dir` in front.
fn path_with(dirs: &[PathBuf]) -> String {
    let mut parts: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    parts.push(std::env::var("PATH").unwrap_or_default());
    parts.join(":")
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value.as_str().unwrap_or_else(|| panic!("{what}: expected a string, got {value}"))
}

// ---------------------------------------------------------------- GitHub

/// `${{ expression }}` replaced as the runner would, from `context`; an
/// expression this test does not know fails it.
fn substitute(text: &str, context: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let end = rest[start..].find("}}").expect("a closed expression") + start;
        let expression = rest[start + 3..end].trim();
        let value = context
            .get(expression)
            .unwrap_or_else(|| panic!("an expression this runner does not know: {expression}"));
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// One job of the workflow on this machine.
struct Job<'a> {
    name: String,
    workspace: PathBuf,
    temp: PathBuf,
    artifacts: &'a Path,
    context: BTreeMap<&'static str, String>,
    env: BTreeMap<String, String>,
    fake_cargo: &'a Path,
}

impl Job<'_> {
    /// Runs the job's steps in order: a failed step skips the rest but
    /// those marked `if: always()`. Whether every step succeeded.
    fn run(&self, steps: &[Value]) -> bool {
        std::fs::create_dir_all(&self.workspace).unwrap();
        std::fs::create_dir_all(&self.temp).unwrap();
        for file in ["path", "summary", "env"] {
            std::fs::write(self.temp.join(file), "").unwrap();
        }
        let mut ok = true;
        for step in steps {
            let condition = step.get("if").map(|c| text(c, "if"));
            let runs = match condition {
                None => ok,
                Some("always()") => true,
                Some(other) => panic!("a condition this runner does not know: {other}"),
            };
            if !runs {
                continue;
            }
            let passed = if let Some(uses) = step.get("uses") {
                self.action(text(uses, "uses"), step.get("with"))
            } else {
                self.shell(text(&step["run"], "run"))
            };
            ok &= passed;
        }
        ok
    }

    fn with(&self, with: Option<&Value>, key: &str) -> Option<String> {
        with.and_then(|w| w.get(key)).map(|v| match v {
            Value::String(s) => substitute(s, &self.context),
            other => other.to_string(),
        })
    }

    /// The actions the workflow uses, as they behave.
    fn action(&self, uses: &str, with: Option<&Value>) -> bool {
        let (action, _version) = uses.split_once('@').expect("action@version");
        match action {
            "actions/checkout" => checkout(&self.workspace),
            "actions/upload-artifact" => {
                let name = self.with(with, "name").expect("an artifact name");
                let path = self.workspace.join(self.with(with, "path").expect("a path"));
                if !path.exists() {
                    assert_ne!(
                        self.with(with, "if-no-files-found").as_deref(),
                        Some("error"),
                        "{}: artifact {name}: {} does not exist",
                        self.name,
                        path.display()
                    );
                    return true;
                }
                let target = self.artifacts.join(&name);
                assert!(!target.exists(), "artifact {name} uploaded twice");
                if path.is_dir() {
                    copy(&path, &target);
                } else {
                    copy(&path, &target.join(path.file_name().unwrap()));
                }
            }
            "actions/download-artifact" => {
                let pattern = self.with(with, "pattern").expect("a pattern");
                let prefix = pattern.strip_suffix('*').expect("a pattern NAME-*");
                let into = self.workspace.join(self.with(with, "path").expect("a path"));
                let merge = self.with(with, "merge-multiple").as_deref() == Some("true");
                let mut found = 0;
                for entry in std::fs::read_dir(self.artifacts).unwrap() {
                    let entry = entry.unwrap();
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with(prefix) {
                        let target = if merge { into.clone() } else { into.join(&name) };
                        copy(&entry.path(), &target);
                        found += 1;
                    }
                }
                assert!(found > 0, "{}: no artifact matches {pattern}", self.name);
            }
            other => panic!("an action this runner does not know: {other}"),
        }
        true
    }

    /// A `run:` step: bash as the runner starts it, in the workspace, with
    /// the workflow's env, the GITHUB_* files, and GITHUB_PATH's entries in
    /// front of PATH.
    fn shell(&self, script: &str) -> bool {
        let script = substitute(script, &self.context);
        let added = std::fs::read_to_string(self.temp.join("path")).unwrap();
        let mut dirs: Vec<PathBuf> = added.lines().rev().map(PathBuf::from).collect();
        dirs.push(self.fake_cargo.to_path_buf());
        let output = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
            .current_dir(&self.workspace)
            .envs(&self.env)
            .env("PATH", path_with(&dirs))
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", &self.workspace)
            .env("RUNNER_TEMP", &self.temp)
            .env("GITHUB_PATH", self.temp.join("path"))
            .env("GITHUB_STEP_SUMMARY", self.temp.join("summary"))
            .env("GITHUB_ENV", self.temp.join("env"))
            .output()
            .unwrap();
        eprintln!(
            "{} $ {script}\n{}{}",
            self.name,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output.status.success()
    }
}

/// `cargo` as the build step calls it: puts the possim under test where
/// `cargo build --release` would write it. Anything else is refused, so a
/// build step that changes how possim is built is seen here.
fn fake_cargo(dir: &Path) -> PathBuf {
    let bin = dir.join("fake-cargo");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\n\
         [ \"$*\" = \"build --release --locked -p possim-sim\" ] || {{ echo \"cargo $*: not what this test expects\" >&2; exit 101; }}\n\
         mkdir -p target/release && ln -sf '{}' target/release/possim\n",
        env!("CARGO_BIN_EXE_possim")
    );
    let path = bin.join("cargo");
    std::fs::write(&path, script).unwrap();
    make_executable(&path);
    bin
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn the_github_workflow_merges_its_shards_into_the_single_machine_report() {
    let dir = scratch("github");
    let workflow = yaml_documents("deploy/github-actions/possim-sweep.yml").remove(0);
    let inputs = &workflow["on"]["workflow_dispatch"]["inputs"];
    assert!(inputs["scenario"]["default"].is_string() && inputs["seeds"]["default"].is_string());
    let mut context: BTreeMap<&'static str, String> = BTreeMap::new();
    context.insert("inputs.scenario", SCENARIO.into());
    context.insert("inputs.seeds", SEEDS.into());
    let env: BTreeMap<String, String> = workflow["env"]
        .as_object()
        .expect("the workflow's env")
        .iter()
        .map(|(k, v)| (k.clone(), substitute(text(v, k), &context)))
        .collect();
    let jobs = &workflow["jobs"];
    let artifacts = dir.join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let cargo = fake_cargo(&dir);

    let shard = &jobs["shard"];
    let shards: Vec<String> = shard["strategy"]["matrix"]["shard"]
        .as_array()
        .expect("matrix.shard, a list")
        .iter()
        .map(|v| v.to_string())
        .collect();
    let expected: Vec<String> = (1..=shards.len()).map(|k| k.to_string()).collect();
    assert_eq!(shards, expected, "matrix.shard lists 1..=N once each");
    let steps = shard["steps"].as_array().expect("steps");
    for (index, k) in shards.iter().enumerate() {
        let mut context = context.clone();
        context.insert("matrix.shard", k.clone());
        context.insert("strategy.job-total", shards.len().to_string());
        context.insert("strategy.job-index", index.to_string());
        let job = Job {
            name: format!("shard {k}"),
            workspace: dir.join(format!("shard-{k}/work")),
            temp: dir.join(format!("shard-{k}/temp")),
            artifacts: &artifacts,
            context,
            env: env.clone(),
            fake_cargo: &cargo,
        };
        assert!(job.run(steps), "shard {k} failed (its steps' output is above)");
    }

    let merge = &jobs["merge"];
    assert_eq!(merge["needs"], "shard", "the merge waits for every shard");
    let job = Job {
        name: "merge".into(),
        workspace: dir.join("merge/work"),
        temp: dir.join("merge/temp"),
        artifacts: &artifacts,
        context: context.clone(),
        env: env.clone(),
        fake_cargo: &cargo,
    };
    assert!(job.run(merge["steps"].as_array().expect("steps")), "the merge failed");

    let (single, code) = single_sweep(&dir);
    assert_eq!(code, 0, "the quick start passes");
    let report = artifacts.join("possim-sweep-report");
    support::assert_same_report(&single, &report);
    let summary = std::fs::read_to_string(dir.join("merge/temp/summary")).unwrap();
    assert!(summary.contains("**PASS: 0 of 6 seeds failed**"), "the job summary: {summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------ Kubernetes

/// A Job's one container, with its volume's mount path.
struct Container {
    argv: Vec<String>,
    env: BTreeMap<String, String>,
    working_dir: String,
    mount: String,
}

fn container(job: &Value) -> Container {
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().map_or(Vec::new(), |a| a.iter().map(|s| text(s, "argv").to_string()).collect())
    };
    let mut argv = strings(&c["command"]);
    argv.extend(strings(&c["args"]));
    let env = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| (text(&e["name"], "name").to_string(), text(&e["value"], "value").to_string()))
        .collect();
    let mounts = c["volumeMounts"].as_array().expect("volumeMounts");
    assert_eq!(mounts.len(), 1);
    let volumes = pod["volumes"].as_array().expect("volumes");
    assert_eq!(mounts[0]["name"], volumes[0]["name"]);
    assert_eq!(volumes[0]["persistentVolumeClaim"]["claimName"], "possim-results");
    Container {
        argv,
        env,
        working_dir: text(&c["workingDir"], "workingDir").to_string(),
        mount: text(&mounts[0]["mountPath"], "mountPath").to_string(),
    }
}

impl Container {
    /// Runs the container's command as the kubelet would start it, the
    /// volume at `volume`, the working directory at `work`, `possim` from
    /// `bin` on PATH, and `env` over the container's own.
    fn run(
        &self,
        volume: &Path,
        work: &Path,
        bin: &Path,
        env: &[(&str, String)],
    ) -> (i32, String, String) {
        let mapped: Vec<String> = self
            .argv
            .iter()
            .map(|arg| arg.replace(&self.mount, &volume.display().to_string()))
            .collect();
        let output = Command::new(&mapped[0])
            .args(&mapped[1..])
            .current_dir(work)
            .env_clear()
            .env("PATH", path_with(&[bin.to_path_buf()]))
            .env("HOME", work)
            .envs(&self.env)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

#[test]
fn the_kubernetes_indexed_job_merges_its_shards_into_the_single_machine_report() {
    let dir = scratch("kubernetes");
    let documents = yaml_documents("deploy/kubernetes/possim-sweep-job.yaml");
    let jobs: Vec<&Value> = documents.iter().filter(|d| d["kind"] == "Job").collect();
    assert!(documents.iter().any(|d| d["kind"] == "PersistentVolumeClaim"
        && d["metadata"]["name"] == "possim-results"
        && d["spec"]["accessModes"][0] == "ReadWriteMany"));
    let indexed =
        jobs.iter().find(|j| j["spec"]["completionMode"] == "Indexed").expect("an Indexed Job");
    let merge = jobs.iter().find(|j| j["spec"]["completionMode"].is_null()).expect("the merge Job");
    let completions = indexed["spec"]["completions"].as_u64().expect("completions");
    let shard = container(indexed);
    let merger = container(merge);
    assert_eq!(shard.env["SHARDS"], completions.to_string(), "SHARDS is the completions");
    assert_eq!(merger.env["SHARDS"], completions.to_string(), "the merge waits for every shard");
    assert_eq!(shard.mount, merger.mount);
    assert!(shard.argv.iter().any(|a| a.contains("JOB_COMPLETION_INDEX")));

    let volume = dir.join("volume");
    let work = dir.join("image");
    std::fs::create_dir_all(&volume).unwrap();
    checkout(&work);
    assert!(work.join(&shard.env["SCENARIO"]).exists(), "the scenario is in the image");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_possim"), bin.join("possim")).unwrap();
    assert_eq!(shard.working_dir, merger.working_dir);

    for index in 0..completions {
        let env = [("JOB_COMPLETION_INDEX", index.to_string()), ("SEEDS", SEEDS.to_string())];
        let (code, out, err) = shard.run(&volume, &work, &bin, &env);
        assert_eq!(code, 0, "index {index}: {out}{err}");
    }
    let mut files: Vec<String> = std::fs::read_dir(&volume)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let expected: Vec<String> = (1..=completions).map(|k| format!("shard-{k}.jsonl")).collect();
    assert_eq!(files, expected, "one finished file per index, no part left");

    // A shard not finished: the merge waits no longer than it is told,
    // then says how many it has.
    let last = volume.join(format!("shard-{completions}.jsonl"));
    let aside = dir.join("aside.jsonl");
    std::fs::rename(&last, &aside).unwrap();
    let (code, _, err) =
        merger.run(&volume, &work, &bin, &[("MERGE_WAIT_SECONDS", "0".to_string())]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{} of {completions} shard files after 0 s", completions - 1)),
        "{err}"
    );
    std::fs::rename(&aside, &last).unwrap();

    let (code, out, err) = merger.run(&volume, &work, &bin, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("**PASS: 0 of 6 seeds failed**"), "the log shows the summary: {out}");
    let (single, single_code) = single_sweep(&dir);
    assert_eq!(code, single_code);
    support::assert_same_report(&single, &volume.join("report"));
    let _ = std::fs::remove_dir_all(&dir);
}
