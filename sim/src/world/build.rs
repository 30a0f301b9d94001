//! Building a run's world from a compiled scenario: the trace's setup
//! record, the actors (each terminal with its line shim), and the turmoil
//! hosts that carry bytes between them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use possim_models::iso8583::values::TerminalId;
use possim_models::issuer::Issuer;
use possim_models::network::Network;
use possim_models::switch::Switch;
use possim_models::terminal::Terminal;
use possim_models::time::Instant;

use super::line::Line;
use super::quiet::Quiet;
use super::runner::{RunError, RunOptions};
use super::shells;
use super::simulation::simulation;
use super::state::{Shared, TerminalSlot, World};
use crate::rng::{Rng, Streams};
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::ProtocolFault;
use crate::trace::{
    CardSetup, Phase, Setup, TerminalSetup, Trace, TraceEvent, TRACE_SCHEMA_VERSION,
};

/// A run's world, ready to step.
pub(super) struct Built {
    pub world: Shared,
    pub quiet: Rc<Quiet>,
    pub sim: turmoil::Sim<'static>,
    pub tick: Duration,
    pub start: Instant,
    pub streams: Streams,
    /// The faults swarm mode placed on drawn trades.
    pub drawn: Vec<ProtocolFault>,
    /// Swarm mode's stream, past the line profiles it drew.
    pub swarm: Rng,
}

pub(crate) fn setup_record(scenario: &CompiledScenario, seed: u64) -> Setup {
    Setup {
        schema_version: TRACE_SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        seed,
        cards: scenario
            .cards
            .iter()
            .map(|card| CardSetup {
                pan: card.pan,
                issuer: card.issuer,
                balance_fen: card.balance_fen,
                offline_balance_fen: card.offline_balance_fen,
                ecash_load_max_fen: scenario
                    .issuers
                    .iter()
                    .find(|issuer| issuer.index == card.issuer)
                    .map_or(0, |issuer| issuer.limits.ecash_load_max_fen),
            })
            .collect(),
        terminals: scenario
            .terminals
            .iter()
            .map(|t| TerminalSetup { id: t.config.terminal_id, merchant: t.config.merchant_id })
            .collect(),
    }
}

/// The world of `scenario` for `options`, its hosts spawned, writing into
/// `trace` (kept or streamed).
pub(super) fn build(
    scenario: &CompiledScenario,
    options: &RunOptions,
    mut trace: Trace,
) -> Result<Built, RunError> {
    let streams = Streams::new(options.seed);
    let offset_ms = u64::from(scenario.run.open_hour) * 3_600_000;
    let start = Instant::from_millis(offset_ms);
    trace.push(start, TraceEvent::Setup(setup_record(scenario, options.seed)));
    trace.push(start, TraceEvent::Phase { phase: Phase::Safety });

    let mut swarm = streams.stream("swarm");
    let drawn =
        if options.swarm { crate::swarm_placed::draw(scenario, options.seed) } else { Vec::new() };
    let mut terminals = BTreeMap::new();
    for compiled in &scenario.terminals {
        let id = compiled.config.terminal_id;
        let mut profile = scenario.links.get(&compiled.link).cloned().unwrap_or_default();
        if options.swarm {
            let bounds = &scenario.faults.swarm;
            profile.blackholes_per_hour = swarm.within(bounds.blackholes_per_hour);
            profile.resets_per_hour = swarm.within(bounds.resets_per_hour);
            profile.drop_per_frame = swarm.within(bounds.drop_per_frame);
            profile.duplicate_per_frame = swarm.within(bounds.duplicate_per_frame);
            profile.corrupt_per_frame = swarm.within(bounds.corrupt_per_frame);
        }
        let protocol: Vec<ProtocolFault> = scenario
            .faults
            .protocol
            .iter()
            .chain(&drawn)
            .filter(|fault| fault.terminal() == id)
            .cloned()
            .collect();
        let line = Line::new(
            id,
            if options.swarm { "swarm" } else { &compiled.link },
            profile,
            streams.stream(&format!("line {}", id.trimmed())),
            protocol,
            compiled.config.response_timeout_ms,
        );
        let terminal = Terminal::new(compiled.config.clone(), start)
            .map_err(|error| RunError::Unsupported(format!("terminal {id}: {error}")))?;
        terminals.insert(id, TerminalSlot { terminal, farm: compiled.farm.clone(), line });
    }
    let switch = Switch::new(scenario.switch.clone(), start)
        .map_err(|e| RunError::Unsupported(format!("switch: {e}")))?;
    let network = Network::new(scenario.network.clone(), start)
        .map_err(|e| RunError::Unsupported(format!("network: {e}")))?;
    let issuers = scenario
        .issuers
        .iter()
        .map(|config| Issuer::new(config.clone(), start).map(|issuer| (config.index, issuer)))
        .collect::<Result<BTreeMap<u16, Issuer>, _>>()
        .map_err(|e| RunError::Unsupported(format!("issuer: {e}")))?;
    let issuer_silent = issuers.keys().map(|&index| (index, false)).collect();
    let quiet = Rc::new(Quiet::default());
    let world: Shared = Rc::new(RefCell::new(World {
        offset_ms,
        trace,
        switch,
        switch_up: true,
        network,
        issuers,
        issuer_silent,
        terminals,
        routes: BTreeMap::new(),
        resets: BTreeMap::new(),
        link_resets: BTreeMap::new(),
        wakers: BTreeMap::new(),
        commands: BTreeMap::new(),
        partitioned: Default::default(),
        held: Default::default(),
        events: Default::default(),
        quiet: quiet.clone(),
    }));

    let tick = Duration::from_millis(scenario.run.tick_ms.max(1));
    let mut sim = simulation(tick, streams.seed_for("turmoil"));
    {
        let (world, quiet) = (world.clone(), quiet.clone());
        let host = quiet.host("switch");
        sim.host("switch", move || quiet.counted_on(host, shells::switch_host(world.clone())));
    }
    {
        let (world, quiet) = (world.clone(), quiet.clone());
        let indexes: Vec<u16> = scenario.issuers.iter().map(|i| i.index).collect();
        let host = quiet.host("network");
        sim.host("network", move || {
            quiet.counted_on(host, shells::network_host(world.clone(), indexes.clone()))
        });
    }
    for issuer in &scenario.issuers {
        let (world, quiet) = (world.clone(), quiet.clone());
        let index = issuer.index;
        let name = format!("issuer-{index}");
        let host = quiet.host(&name);
        sim.host(name, move || quiet.counted_on(host, shells::issuer_host(world.clone(), index)));
    }
    for farm in &scenario.farms {
        let (world, quiet) = (world.clone(), quiet.clone());
        let members: Vec<TerminalId> = scenario
            .terminals
            .iter()
            .filter(|t| &t.farm == farm)
            .map(|t| t.config.terminal_id)
            .collect();
        let host = quiet.host(farm);
        sim.host(farm.as_str(), move || {
            quiet.counted_on(host, shells::farm_host(world.clone(), members.clone()))
        });
    }
    sim.set_link_latency(
        "switch",
        "network",
        Duration::from_millis(scenario.backbone.switch_network_ms.max(1)),
    );
    for issuer in &scenario.issuers {
        sim.set_link_latency(
            "network",
            format!("issuer-{}", issuer.index).as_str(),
            Duration::from_millis(scenario.backbone.network_issuer_ms.max(1)),
        );
    }

    Ok(Built { world, quiet, sim, tick, start, streams, drawn, swarm })
}
