//! The command line, as clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Manage ESXi host networking as code: validate manifests, plan, apply, detect drift.
#[derive(Debug, Parser)]
#[command(name = "esxnet", version = env!("ESXNET_VERSION"), about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests against esxnet's schema and ESXi's rules (exit 0 valid, 1 invalid).
    Validate(ValidateArgs),
    /// Show what apply would change (exit 0; 2 with --detailed-exitcode when there are changes; 1 on error).
    Plan(PlanArgs),
    /// Make the hosts match the manifests, or apply a saved plan (exit 0 converged, 1 error).
    Apply(ApplyArgs),
    /// Compare the hosts with the manifests (exit 0 in sync, 2 drift, 1 error).
    Drift(DriftArgs),
    /// Print what the hosts have now.
    Observe(ObserveArgs),
    /// Write manifests for what the hosts have now, folded across hosts that agree.
    Import(ImportArgs),
    /// Print the plan's dependency graph as DOT.
    Graph(GraphArgs),
    /// Write the JSON Schemas of manifests, snapshots and plans.
    Schema(SchemaArgs),
    /// Put the hosts of an earlier apply back to their state before it, from the journal
    /// (exit 0 restored, 1 error).
    Rollback(RollbackArgs),
    /// Keep the changes of an apply made with --confirm-within (exit 0 confirmed, 1 too late or unknown).
    Confirm(ConfirmArgs),
    /// Work with simulated ESXi labs.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Work with the JSON results of plan, drift and apply (for sharded pipelines).
    #[command(subcommand)]
    Report(ReportCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command into a directory.
    Man(ManArgs),
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
    /// Write the script into this directory, under the shell's usual file name (esxnet.bash,
    /// _esxnet, esxnet.fish, …), instead of printing it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write esxnet.1 and one esxnet-COMMAND.1 per command into this directory instead of printing
    /// esxnet.1.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `report`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Join the JSON results of shards (`--output json` of plan, drift or apply with `--shard`)
    /// into one summary, one Markdown comment and one exit code (0 nothing to do; 2 changes or
    /// drift; 1 errors, a failed apply, or a shard missing).
    Merge(ReportMergeArgs),
}

/// Formats of a merged report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MergeFormat {
    /// For a pull-request comment or an issue.
    Markdown,
    /// The merged result, in the format of the inputs.
    Json,
}

/// `report merge`.
#[derive(Debug, Args)]
pub struct ReportMergeArgs {
    /// The shards' JSON files, all from the same command.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = MergeFormat::Markdown)]
    pub output: MergeFormat,
}

/// `--shard I/N`: this run's part of the fleet.
#[derive(Debug, Clone, Args)]
pub struct ShardArgs {
    /// Work on part I of N of the hosts (1 ≤ I ≤ N), for a CI matrix or an Indexed Job: each host
    /// is in one part, by a hash of its name. Fleet-wide rules still check the whole fleet.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<esxnet::shard::Shard>,
}

fn parse_shard(text: &str) -> Result<esxnet::shard::Shard, String> {
    text.parse()
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The run to undo, as apply printed it; the last apply that changed hosts by default.
    /// Without --target, a run over several Target documents is found in .esxnet/journal.jsonl
    /// and its hosts are reached through the servers that run recorded.
    pub run_id: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Roll back without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// How many hosts to observe and roll back at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub parallelism: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ApplyFormat::Text)]
    pub output: ApplyFormat,
}

/// `confirm`.
#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// The run to keep, as apply printed it. Without --target, a run over several Target
    /// documents is found in .esxnet/journal.jsonl.
    pub run_id: String,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Where hosts are read and changed.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// sim:DIR (a simulated lab), snapshot:FILE (read-only, from `esxnet observe`), or
    /// vsphere://USER@SERVER: every host on this one server. Without it, each host is on the
    /// server of its manifest `Target`, or, when the manifests declare none, in sim:.esxnet/lab.
    #[arg(long, env = "ESXNET_TARGET")]
    pub target: Option<String>,
}

impl TargetArgs {
    /// The target given, or the default lab (for commands that read no manifests).
    pub fn or_default(&self) -> &str {
        self.target.as_deref().unwrap_or(esxnet::target::DEFAULT_TARGET)
    }
}

/// `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Also run the rules that need the hosts' state, read from this target.
    #[arg(long)]
    pub target: Option<String>,
}

/// Output formats of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// For people.
    Text,
    /// For machines.
    Json,
    /// For a pull-request comment.
    Markdown,
}

/// Options shared by plan and apply.
#[derive(Debug, Clone, Args)]
pub struct PlanningArgs {
    /// Delete objects no manifest declares (never the management adapter and what it sits on).
    #[arg(long)]
    pub prune: bool,
    /// Allow changes that could cut a host off: its management adapter, or the default stack's gateway.
    #[arg(long)]
    pub allow_management_changes: bool,
    /// How many hosts to observe (and apply) at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub parallelism: u32,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Manifest files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub planning: PlanningArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub output: PlanFormat,
    /// Also save the plan as JSON, for `esxnet apply PLAN.json`.
    #[arg(long, conflicts_with = "shard")]
    pub out: Option<PathBuf>,
    /// Exit 2 when the plan has changes.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub shard: ShardArgs,
}

/// Output formats of apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApplyFormat {
    /// For people.
    Text,
    /// For pipelines: every change's outcome.
    Json,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest files or directories, or one saved plan (PLAN.json).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub planning: PlanningArgs,
    /// Apply without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ApplyFormat::Text)]
    pub output: ApplyFormat,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Skip the verification after each host's changes (read again, still connected, adapters
    /// reaching their networks) and so the automatic rollback of a host that fails it, as
    /// `nmstatectl --no-verify` does. Saves one read of each changed host.
    #[arg(long)]
    pub no_verify: bool,
    /// Change the first N hosts with changes (in plan order) alone, then the others; a failed
    /// canary stops the run unless --max-failures allows more.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub canary: usize,
    /// Stop starting hosts once this many failed or were rolled back: a count (1) or a share of
    /// the hosts with changes (10%); hosts in flight finish or roll back.
    #[arg(long, value_name = "K|P%", value_parser = failure_budget)]
    pub max_failures: Option<esxnet_executor::FailureBudget>,
    /// Keep the changes only if `esxnet confirm RUN_ID` arrives within this time (such as 5m);
    /// otherwise every changed host is rolled back. Apply waits that long.
    #[arg(long, value_name = "DURATION", value_parser = confirm_window)]
    pub confirm_within: Option<std::time::Duration>,
}

fn failure_budget(text: &str) -> Result<esxnet_executor::FailureBudget, String> {
    text.parse()
}

fn confirm_window(text: &str) -> Result<std::time::Duration, String> {
    esxnet_executor::rollout::parse_window(text)
}

/// `drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Manifest files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// How many hosts to observe at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub parallelism: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub output: PlanFormat,
    #[command(flatten)]
    pub shard: ShardArgs,
}

/// Formats of observed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// `observe`.
#[derive(Debug, Args)]
pub struct ObserveArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only these hosts (comma-separated); all by default.
    #[arg(long, value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StateFormat::Yaml)]
    pub output: StateFormat,
    /// How many hosts to observe at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub parallelism: u32,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only these hosts (comma-separated); all by default.
    #[arg(long, value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Write the manifests into this directory (made if missing; files of the same name are replaced).
    #[arg(long, required_unless_present = "into", conflicts_with = "into")]
    pub out: Option<PathBuf>,
    /// Complete the manifests in this directory: write only what they do not declare yet, in new files.
    #[arg(long)]
    pub into: Option<PathBuf>,
    /// The label that groups hosts; its value is the DNS domain of a host's name.
    #[arg(long, value_name = "LABEL", default_value = esxnet::import::DEFAULT_GROUP_LABEL, value_parser = label_key)]
    pub group_by: String,
    /// How many hosts to observe at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub parallelism: u32,
}

/// A label key: letters, digits, `-`, `_`, `.` and `/`, starting with a letter or digit.
fn label_key(text: &str) -> Result<String, String> {
    let valid = text.chars().next().is_some_and(|first| first.is_ascii_alphanumeric())
        && text.len() <= 63
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "-_./".contains(character));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "\"{text}\" is not a label key: use letters, digits, '-', '_', '.' or '/', starting with a letter or digit, such as cluster"
        ))
    }
}

/// `graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Manifest files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub planning: PlanningArgs,
}

/// `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Write every schema into this directory; without it, print the manifest schema.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `sim`.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Make a simulated lab.
    Init(SimInitArgs),
    /// Serve a lab over the vSphere API (VI JSON over HTTPS with a self-signed certificate), so
    /// `--target vsphere://…` works without a vCenter. Prints the URL as its first line.
    Serve(SimServeArgs),
}

/// `sim serve`.
#[derive(Debug, Args)]
pub struct SimServeArgs {
    /// The lab directory (made with `esxnet sim init`).
    pub dir: PathBuf,
    /// Where to listen; loopback only, port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// The user name the server accepts; the password is ESXNET_PASSWORD.
    #[arg(long, default_value = "root")]
    pub user: String,
    /// Stop by itself after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub max_seconds: u64,
}

/// `sim init`.
#[derive(Debug, Args)]
pub struct SimInitArgs {
    /// The lab directory (must not hold a lab yet).
    pub dir: PathBuf,
    /// How many hosts (named esx-01…), or their names separated by commas.
    #[arg(long)]
    pub hosts: String,
    /// ESXi version of every host.
    #[arg(long, default_value = "8.0.3")]
    pub version: String,
    /// How long every API call lasts, in milliseconds: the simulator answers when this much time has
    /// passed since the call arrived, its own work included, as a server does.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of API calls (0–1) that fail with a transient fault.
    #[arg(long, default_value_t = 0.0)]
    pub transient_fault_rate: f64,
    /// Seed of the fault injection.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The default stack's DNS is learned through DHCP (instead of static, as after installation).
    #[arg(long)]
    pub dhcp_dns: bool,
    /// IPv6 is disabled on the hosts: adapters have no IPv6 and refuse IPv6 settings.
    #[arg(long)]
    pub disable_ipv6: bool,
    /// A distributed switch every host is a member of, as vCenter made it (esxnet never creates
    /// one): NAME[:MTU], MTU 1500 unless given. Repeat for more switches.
    #[arg(long = "distributed-switch", value_name = "NAME[:MTU]")]
    pub distributed_switches: Vec<String>,
    /// A port group of a switch given with --distributed-switch: SWITCH/NAME[:VLAN], VLAN 0
    /// unless given. Repeat for more port groups.
    #[arg(long = "distributed-port-group", value_name = "SWITCH/NAME[:VLAN]")]
    pub distributed_port_groups: Vec<String>,
    /// Every host gets an adapter bound to the software iSCSI adapter (port group "iSCSI" on
    /// vSwitch0), which esxnet never deletes.
    #[arg(long)]
    pub iscsi_adapter: bool,
    /// Every host gets an adapter the system owns (port group "System" on vSwitch0), which esxnet
    /// never deletes.
    #[arg(long)]
    pub system_owned_adapter: bool,
    /// The network behind the hosts: `examples` (the subnets of the example manifests on VLANs
    /// 0, 120, 121, 130 and 140, every NIC a trunk) or `none` (hosts report no network hints).
    #[arg(long, value_enum, default_value_t = FabricChoice::Examples)]
    pub fabric: FabricChoice,
    /// A switch port that carries only these VLANs (and says so through LLDP): HOST:NIC=VLAN,VLAN,
    /// such as esx-02.lab.example:vmnic2=0,130 for a port missing VLAN 120. Repeat for more ports.
    #[arg(long = "uplink-vlans", value_name = "HOST:NIC=VLANS")]
    pub uplink_vlans: Vec<String>,
}

/// The network a new lab gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FabricChoice {
    /// The examples' subnets and gateways.
    Examples,
    /// No model of the network.
    None,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // Clap checks duplicate names, conflicting flags and the like only when asked.
        super::Cli::command().debug_assert();
    }
}
