//! The bare cost of the models: approved sales per second through terminal,
//! switch, network and issuer wired by the in-memory harness, no faults, no
//! turmoil. The simulator's overhead is measured against this.
//!
//!     cargo bench -p possim-models-tests --bench actors

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use possim_models::harness::build::{account, card_pan, chip_card, open_the_day, Configs, PIN};
use possim_models::harness::Harness;
use possim_models::iso8583::values::{AmountFen, TerminalId};
use possim_models::terminal::TerminalCommand;

const SALES_PER_BATCH: u64 = 100;

fn signed_in_world() -> (Harness, TerminalId) {
    let configs = Configs::standard(1, vec![account(card_pan(1), 1_000_000_000)]);
    let t = configs.terminals[0].terminal_id;
    let mut h = configs.build();
    open_the_day(&mut h, &t);
    (h, t)
}

fn sales(h: &mut Harness, t: &TerminalId) {
    let card = chip_card(card_pan(1));
    for _ in 0..SALES_PER_BATCH {
        let amount = AmountFen::new(100).expect("small");
        h.command(t, TerminalCommand::Sale { card: card.clone(), amount, pin: Some(PIN.into()) });
        h.settle(Duration::from_secs(1));
    }
    let balance = h.issuers[0].card(&card_pan(1)).expect("the card").balance_fen;
    assert_eq!(balance, 1_000_000_000 - 100 * SALES_PER_BATCH as i64, "every sale approved");
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("harness");
    group.throughput(Throughput::Elements(SALES_PER_BATCH));
    group.bench_function("approved_sales", |b| {
        b.iter_batched(signed_in_world, |(mut h, t)| sales(&mut h, &t), BatchSize::LargeInput)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
