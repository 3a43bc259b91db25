//! `esxnet sim …`.

use anyhow::{Context, Result};
use esxnet_sim::lab::{ISCSI_PORT_GROUP, SYSTEM_PORT_GROUP};
use esxnet_sim::{Fabric, HostNames, InitOptions, Lab, LabDistributedSwitch, PortVlans};

use crate::cli::{FabricChoice, SimCommand, SimInitArgs, SimServeArgs};
use crate::Outcome;
use esxnet::output::Output;

pub fn run(command: SimCommand, output: &Output) -> Result<Outcome> {
    match command {
        SimCommand::Init(arguments) => init(&arguments, output),
        SimCommand::Serve(arguments) => serve(&arguments, output),
    }
}

fn serve(arguments: &SimServeArgs, output: &Output) -> Result<Outcome> {
    let Some(password) = std::env::var_os("ESXNET_PASSWORD").filter(|password| !password.is_empty()) else {
        anyhow::bail!("set ESXNET_PASSWORD to the password the server should accept");
    };
    let mut options =
        esxnet_sim_server::ServeOptions::new(&arguments.dir, &arguments.user, password.to_string_lossy().into_owned());
    options.listen = arguments.listen;
    options.max_duration = std::time::Duration::from_secs(arguments.max_seconds);
    esxnet_sim_server::serve_blocking(options, |server| {
        // The first stdout line is the URL, for scripts and tests.
        output.result(server.url());
        output.status(&format!(
            "serving the lab at {} over the vSphere API; use --target 'vsphere://{}@{}?insecure=true' with the same ESXNET_PASSWORD; stops after {} s",
            arguments.dir.display(),
            arguments.user,
            server.server_address(),
            arguments.max_seconds
        ));
    })
    .with_context(|| format!("cannot serve the lab at {}", arguments.dir.display()))?;
    Ok(Outcome::Success)
}

fn init(arguments: &SimInitArgs, output: &Output) -> Result<Outcome> {
    let hosts: HostNames = arguments.hosts.parse()?;
    if !(0.0..=1.0).contains(&arguments.transient_fault_rate) {
        anyhow::bail!("--transient-fault-rate must be between 0 and 1, such as 0.3");
    }
    let options = InitOptions {
        hosts: hosts.clone(),
        version: arguments.version.parse()?,
        latency_ms: arguments.latency_ms,
        transient_fault_rate: arguments.transient_fault_rate,
        seed: arguments.seed,
        dns_from_dhcp: arguments.dhcp_dns,
        ipv6_enabled: !arguments.disable_ipv6,
        distributed_switches: LabDistributedSwitch::parse_arguments(
            &arguments.distributed_switches,
            &arguments.distributed_port_groups,
        )?,
        iscsi_adapter: arguments.iscsi_adapter,
        system_owned_adapter: arguments.system_owned_adapter,
        fabric: fabric(arguments, &hosts.resolve())?,
    };
    let lab = Lab::init(&arguments.dir, &options)
        .with_context(|| format!("cannot make a simulated lab at {}", arguments.dir.display()))?;
    let count = lab.host_names()?.len();
    output.status(&format!(
        "made a simulated lab at {} with {count} ESXi {} host{}{}; use it with --target sim:{}",
        arguments.dir.display(),
        options.version,
        if count == 1 { "" } else { "s" },
        furnishing_summary(&options),
        arguments.dir.display()
    ));
    Ok(Outcome::Success)
}

/// The physical NICs of a host `sim init` makes.
const FRESH_HOST_NICS: [&str; 4] = ["vmnic0", "vmnic1", "vmnic2", "vmnic3"];

/// The network behind the new lab's hosts.
fn fabric(arguments: &SimInitArgs, hosts: &[String]) -> Result<Option<Fabric>> {
    let mut fabric = match arguments.fabric {
        FabricChoice::Examples => Fabric::examples(),
        FabricChoice::None if arguments.uplink_vlans.is_empty() => return Ok(None),
        FabricChoice::None => Fabric::default(),
    };
    for port in &arguments.uplink_vlans {
        let port = port.parse::<PortVlans>()?;
        if !hosts.contains(&port.host) {
            anyhow::bail!(
                "--uplink-vlans names host {}, which the lab does not get: name one of {}",
                port.host,
                hosts.join(", ")
            );
        }
        if !FRESH_HOST_NICS.contains(&port.nic.as_str()) {
            anyhow::bail!(
                "--uplink-vlans names NIC {} of {}: a lab host has {}",
                port.nic,
                port.host,
                FRESH_HOST_NICS.join(", ")
            );
        }
        fabric = fabric.with_port(port);
    }
    Ok(Some(fabric))
}

/// What the lab's hosts have beyond a fresh installation, for the status line (empty when nothing).
fn furnishing_summary(options: &InitOptions) -> String {
    let mut parts = Vec::new();
    for switch in &options.distributed_switches {
        let port_groups: Vec<String> = switch
            .port_groups
            .iter()
            .map(|port_group| format!("\"{}\" VLAN {}", port_group.name, port_group.vlan))
            .collect();
        let port_groups = match port_groups.len() {
            0 => String::new(),
            1 => format!("; port group {}", port_groups[0]),
            _ => format!("; port groups {}", port_groups.join(", ")),
        };
        parts.push(format!(
            "membership of distributed switch \"{}\" (MTU {}{port_groups})",
            switch.name, switch.mtu
        ));
    }
    if options.iscsi_adapter {
        parts.push(format!("an iSCSI-bound adapter on \"{ISCSI_PORT_GROUP}\""));
    }
    if options.system_owned_adapter {
        parts.push(format!("a system-owned adapter on \"{SYSTEM_PORT_GROUP}\""));
    }
    let mut summary = if parts.is_empty() {
        String::new()
    } else {
        format!(", each with {}", parts.join(", "))
    };
    // Switch ports configured with a VLAN list belong to one host's NIC each.
    for (host, ports) in options.fabric.iter().flat_map(|fabric| &fabric.ports) {
        for (nic, vlans) in ports {
            let vlans: Vec<String> = vlans.iter().map(ToString::to_string).collect();
            let vlans = if vlans.is_empty() {
                "no VLAN".to_owned()
            } else {
                format!("only VLANs {}", vlans.join(", "))
            };
            summary.push_str(&format!("; {nic} of {host} is on a switch port that carries {vlans}"));
        }
    }
    summary
}
