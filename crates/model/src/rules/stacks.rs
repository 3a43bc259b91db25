//! Rules about TCP/IP stacks and the services their adapters carry (ESX001–ESX005, ESX024).

use std::net::IpAddr;

use crate::common::{EsxiVersion, Service, StackKind};
use crate::desired::{DesiredAdapter, DesiredIpv4};
use crate::diagnostic::{Diagnostic, RuleId};

use super::{fields, HostContext};

/// Runs the stack rules for one host.
pub(super) fn check_host(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    check_provisioning_stack_needs_esxi_6_0(context, diagnostics);
    check_provisioning_gateway_differs_from_default_gateway(context, diagnostics);
    check_services_on_dedicated_stacks(context, diagnostics);
    check_default_stack_adapters_lose_moved_services(context, diagnostics);
    check_static_adapters_have_a_stack_gateway(context, diagnostics);
    check_services_exist_on_the_host_version(context, diagnostics);
}

/// ESX001 (seed prerequisite): the Provisioning stack exists from ESXi 6.0 on. Only the observed
/// version can tell, so this runs only with a target.
fn check_provisioning_stack_needs_esxi_6_0(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let Some(observed) = context.observed else { return };
    if observed.version >= EsxiVersion::PROVISIONING_STACK {
        return;
    }
    let message = format!(
        "the provisioning stack needs ESXi {} or later but host {} runs ESXi {}: upgrade the host or do not select it",
        EsxiVersion::PROVISIONING_STACK,
        context.name(),
        observed.version
    );
    if let Some(stack) = context.host.stacks.get(&StackKind::Provisioning) {
        diagnostics.push(context.error(RuleId::Esx001, &stack.source, "spec.stack", message.clone()));
    }
    for adapter in context.host.adapters.values() {
        if adapter.stack == StackKind::Provisioning {
            diagnostics.push(context.adapter_error(RuleId::Esx001, adapter, "spec.stack", message.clone()));
        }
    }
}

/// ESX002 (seed): the provisioning stack routes migration traffic through its own gateway, so it
/// must differ from the default stack's. The default stack's gateway is the declared one, else the
/// observed one. IPv6 is held to the same rule: the seed's reason (a separate route) applies alike.
fn check_provisioning_gateway_differs_from_default_gateway(
    context: &HostContext<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let Some(provisioning) = context.host.stacks.get(&StackKind::Provisioning) else {
        return;
    };
    let declared_default = context.host.stacks.get(&StackKind::Default);
    let observed_default = context.observed.and_then(|observed| observed.stack(StackKind::Default));
    let ipv4 = GatewayComparison {
        key: "ipv4Gateway",
        provisioning: provisioning.ipv4_gateway.map(IpAddr::V4),
        declared_default: declared_default.and_then(|stack| stack.ipv4_gateway).map(IpAddr::V4),
        observed_default: observed_default.and_then(|stack| stack.ipv4_gateway).map(IpAddr::V4),
    };
    let ipv6 = GatewayComparison {
        key: "ipv6Gateway",
        provisioning: provisioning.ipv6_gateway.map(IpAddr::V6),
        declared_default: declared_default.and_then(|stack| stack.ipv6_gateway).map(IpAddr::V6),
        observed_default: observed_default.and_then(|stack| stack.ipv6_gateway).map(IpAddr::V6),
    };
    for comparison in [ipv4, ipv6] {
        let Some(gateway) = comparison.provisioning else {
            continue;
        };
        // The declared default gateway wins over the observed one: it is what the host will have.
        let default_gateway = comparison.declared_default.or(comparison.observed_default);
        if default_gateway != Some(gateway) {
            continue;
        }
        let field = format!("spec.{}", comparison.key);
        let mut diagnostic = context.error(
            RuleId::Esx002,
            &provisioning.source,
            &field,
            format!(
                "the provisioning stack's gateway {gateway} is also the default stack's gateway on host {}: give the provisioning stack a gateway of its own in {}",
                context.name(),
                comparison.key
            ),
        );
        if let (Some(default_stack), Some(_)) = (declared_default, comparison.declared_default) {
            diagnostic = diagnostic.with_related(
                "the default stack's gateway is declared here",
                default_stack.source.locate(&field),
            );
        }
        diagnostics.push(diagnostic);
    }
}

/// One address family's gateways of the provisioning and default stacks on a host.
struct GatewayComparison {
    key: &'static str,
    provisioning: Option<IpAddr>,
    declared_default: Option<IpAddr>,
    observed_default: Option<IpAddr>,
}

/// ESX003 (seed): an adapter on the vMotion or Provisioning stack carries that stack's service and
/// nothing else; ESXi selects it by itself. Listing just that service is harmless and allowed;
/// anything else would pass validation and fail on apply, which is what esxnet exists to prevent.
fn check_services_on_dedicated_stacks(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    for adapter in context.host.adapters.values() {
        let Some(implied) = adapter.stack.implied_service() else {
            continue;
        };
        let Some(services) = &adapter.services else { continue };
        for service in services.iter().filter(|service| **service != implied) {
            let field = service_field(adapter, *service);
            diagnostics.push(context.adapter_error(
                RuleId::Esx003,
                adapter,
                &field,
                format!(
                    "an adapter on the {} stack carries {implied} traffic only: remove {service} from services (services are settable on the default stack only)",
                    adapter.stack
                ),
            ));
        }
    }
}

/// ESX004 (seed "Results"): once a host has an adapter on the Provisioning stack, ESXi deactivates
/// provisioning on every default-stack adapter; the vMotion stack does the same to vMotion. A
/// manifest asking for the service there could never converge, so it is an error.
fn check_default_stack_adapters_lose_moved_services(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    for dedicated in [StackKind::Provisioning, StackKind::Vmotion] {
        let Some(moved_service) = dedicated.implied_service() else {
            continue;
        };
        let has_dedicated_adapter = context.host.has_adapter_on_stack(dedicated)
            || context
                .observed
                .is_some_and(|observed| observed.has_adapter_on_stack(dedicated));
        if !has_dedicated_adapter {
            continue;
        }
        for adapter in context.host.adapters.values() {
            let asks_for_moved_service = adapter.stack == StackKind::Default
                && adapter
                    .services
                    .as_ref()
                    .is_some_and(|services| services.contains(&moved_service));
            if !asks_for_moved_service {
                continue;
            }
            let field = service_field(adapter, moved_service);
            diagnostics.push(context.adapter_error(
                RuleId::Esx004,
                adapter,
                &field,
                format!(
                    "host {} has an adapter on the {dedicated} stack, so ESXi deactivates {moved_service} on default-stack adapters: remove {moved_service} from services",
                    context.name()
                ),
            ));
        }
    }
}

/// ESX005 (seed: "selected netstack should have the default gateway explicitly on each host"): a
/// static adapter without a gateway override routes through its stack's default gateway, so the
/// stack needs one on this host. The vMotion and Provisioning stacks must declare it; for the
/// default stack an observed gateway also counts, and without observed state it is not checked.
fn check_static_adapters_have_a_stack_gateway(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    for adapter in context.host.adapters.values() {
        if !relies_on_stack_ipv4_gateway(adapter) {
            continue;
        }
        let declared_gateway = context
            .host
            .stacks
            .get(&adapter.stack)
            .and_then(|stack| stack.ipv4_gateway);
        if declared_gateway.is_some() {
            continue;
        }
        if adapter.stack == StackKind::Default {
            let Some(observed) = context.observed else { continue };
            if observed
                .stack(StackKind::Default)
                .is_some_and(|stack| stack.ipv4_gateway.is_some())
            {
                continue;
            }
        }
        diagnostics.push(context.adapter_error(
            RuleId::Esx005,
            adapter,
            "spec.ipv4",
            format!(
                "static IPv4 without a gateway override needs an explicit default gateway on the {} stack of host {}: declare ipv4Gateway in a NetStack for that stack selecting this host, or set spec.ipv4.gatewayOverride",
                adapter.stack,
                context.name()
            ),
        ));
    }
}

fn relies_on_stack_ipv4_gateway(adapter: &DesiredAdapter) -> bool {
    matches!(
        adapter.ipv4,
        DesiredIpv4::Static {
            gateway_override: None,
            ..
        }
    )
}

/// ESX024: a host refuses to select an adapter for a service its ESXi release does not know
/// (`InvalidArgument`), after the apply has already changed the objects before it. Only the
/// observed version can tell, so this runs only with a target. The services the vMotion and
/// Provisioning stacks imply are left to ESX001 and ESX003.
fn check_services_exist_on_the_host_version(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let Some(observed) = context.observed else { return };
    for adapter in context.host.adapters.values() {
        let Some(services) = &adapter.services else { continue };
        for service in services {
            let minimum = service.minimum_version();
            if observed.version >= minimum {
                continue;
            }
            let field = service_field(adapter, *service);
            diagnostics.push(context.adapter_error(
                RuleId::Esx024,
                adapter,
                &field,
                format!(
                    "{service} needs ESXi {minimum} or later but host {} runs ESXi {}: remove {service} from services or upgrade the host",
                    context.name(),
                    observed.version
                ),
            ));
        }
    }
}

/// The field of a service in an adapter's `spec.services` list.
fn service_field(adapter: &DesiredAdapter, service: Service) -> String {
    fields::item_matching(
        &adapter.source,
        "spec.services",
        &service.api_name().to_owned(),
        |text| Some(text.to_owned()),
    )
}
