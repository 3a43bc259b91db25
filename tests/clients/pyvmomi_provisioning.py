"""A provisioning adapter made with pyVmomi against `esxnet sim serve`, as an admin's script would.

It logs in, finds the host through the inventory (root folder -> datacenter -> host folder ->
cluster -> host, never by a managed-object id), adds a standard switch and port group if they are
missing, adds a VMkernel adapter on the Provisioning TCP/IP stack with a static address, sets that
stack's default gateway with UpdateNetworkConfig, selects no service (a Provisioning-stack
adapter carries provisioning traffic by itself), then reads everything back and prints it as JSON.

The test tests/python_clients.rs runs it and compares what it printed with `esxnet observe`.
The password comes from ESXNET_PASSWORD so that it never appears in a process listing.
"""

import argparse
import json
import os
import ssl
import sys

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

PROVISIONING_STACK = "vSphereProvisioning"


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="the port of sim serve on 127.0.0.1")
    parser.add_argument("--user", default="root")
    parser.add_argument("--datacenter", default="esxnet-lab")
    parser.add_argument("--cluster", required=True, help="the cluster that holds the host")
    parser.add_argument("--host", required=True, help="the host's name in the inventory")
    parser.add_argument("--switch", required=True, help="a standard switch, made if missing")
    parser.add_argument("--port-group", required=True, help="a port group, made if missing")
    parser.add_argument("--vlan", type=int, default=0)
    parser.add_argument("--address", required=True, help="the adapter's static IPv4 address")
    parser.add_argument("--netmask", required=True)
    parser.add_argument("--gateway", required=True, help="the Provisioning stack's IPv4 gateway")
    return parser.parse_args()


def child_named(children, kind, name):
    """The one child of `kind` called `name`, or an error that says what was there instead."""
    for child in children:
        if isinstance(child, kind) and child.name == name:
            return child
    present = sorted(child.name for child in children)
    sys.exit(f"no {kind.__name__} named {name!r} in the inventory (found {present})")


def find_host(content, options):
    """The host, looked up the way inventory-walking clients do it."""
    datacenter = child_named(content.rootFolder.childEntity, vim.Datacenter, options.datacenter)
    cluster = child_named(
        datacenter.hostFolder.childEntity, vim.ComputeResource, options.cluster
    )
    return child_named(cluster.host, vim.HostSystem, options.host)


def ensure_switch_and_port_group(network_system, options):
    info = network_system.networkInfo
    if not any(switch.name == options.switch for switch in info.vswitch):
        network_system.AddVirtualSwitch(
            vswitchName=options.switch,
            spec=vim.host.VirtualSwitch.Specification(numPorts=128, mtu=1500),
        )
    if not any(group.spec.name == options.port_group for group in info.portgroup):
        network_system.AddPortGroup(
            portgrp=vim.host.PortGroup.Specification(
                name=options.port_group,
                vlanId=options.vlan,
                vswitchName=options.switch,
                policy=vim.host.NetworkPolicy(),
            )
        )


def ensure_adapter(network_system, options):
    """The device of the adapter on the port group, added with a static address if missing."""
    for adapter in network_system.networkInfo.vnic:
        if adapter.portgroup == options.port_group:
            return adapter.device
    return network_system.AddVirtualNic(
        portgroup=options.port_group,
        nic=vim.host.VirtualNic.Specification(
            ip=vim.host.IpConfig(
                dhcp=False, ipAddress=options.address, subnetMask=options.netmask
            ),
            netStackInstanceKey=PROVISIONING_STACK,
        ),
    )


def set_gateway(network_system, gateway):
    network_system.UpdateNetworkConfig(
        config=vim.host.NetworkConfig(
            netStackSpec=[
                vim.host.NetworkConfig.NetStackSpec(
                    operation="edit",
                    netStackInstance=vim.host.NetStackInstance(
                        key=PROVISIONING_STACK,
                        ipRouteConfig=vim.host.IpRouteConfig(defaultGateway=gateway),
                    ),
                )
            ]
        ),
        changeMode="modify",
    )


def read_back(host, network_system, device):
    info = network_system.networkInfo
    adapter = next(adapter for adapter in info.vnic if adapter.device == device)
    stack = next(
        (stack for stack in info.netStackInstance or [] if stack.key == PROVISIONING_STACK),
        None,
    )
    port_group = next(group for group in info.portgroup if group.spec.name == adapter.portgroup)
    # The services each adapter carries, as HostVirtualNicManager's `info` property lists them.
    services = sorted(
        config.nicType
        for config in host.configManager.virtualNicManager.info.netConfig
        if f"{config.nicType}.{adapter.key}" in (config.selectedVnic or [])
    )
    return {
        "host": host.name,
        "adapter": {
            "device": adapter.device,
            "portGroup": adapter.portgroup,
            "switch": port_group.spec.vswitchName,
            "vlan": port_group.spec.vlanId,
            "stack": adapter.spec.netStackInstanceKey,
            "dhcp": adapter.spec.ip.dhcp,
            "address": adapter.spec.ip.ipAddress,
            "netmask": adapter.spec.ip.subnetMask,
        },
        "stack": {
            "key": stack.key if stack else None,
            "gateway": stack.ipRouteConfig.defaultGateway if stack else None,
        },
        "services": services,
    }


def main():
    options = arguments()
    password = os.environ["ESXNET_PASSWORD"]
    # sim serve's certificate is self-signed, as a fresh ESXi host's is.
    service = SmartConnect(
        host="127.0.0.1",
        port=options.port,
        user=options.user,
        pwd=password,
        sslContext=ssl._create_unverified_context(),
    )
    try:
        host = find_host(service.RetrieveContent(), options)
        network_system = host.configManager.networkSystem
        ensure_switch_and_port_group(network_system, options)
        device = ensure_adapter(network_system, options)
        set_gateway(network_system, options.gateway)
        print(json.dumps(read_back(host, network_system, device), indent=2, sort_keys=True))
    finally:
        Disconnect(service)


if __name__ == "__main__":
    main()
