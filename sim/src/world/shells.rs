//! The async shells: thin loops that carry bytes between turmoil TCP streams
//! and the actors, and wake each actor at its deadline. All protocol logic
//! stays in the models; a shell only reads frames, hands them over, and
//! writes what comes out.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::Duration;

use possim_models::actor::Node;
use possim_models::iso8583::frame::FRAME_BYTES_MAX;
use possim_models::iso8583::values::TerminalId;
use possim_models::iso8583::{split_frame, Frame};
use possim_models::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use turmoil::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use turmoil::net::{TcpListener, TcpStream};

use super::quiet::Quiet;
use super::state::{Later, Shared, CONNECTION_FRAMES_MAX};

pub(crate) const SWITCH_PORT: u16 = 5800;
pub(crate) const NETWORK_PORT: u16 = 5801;
pub(crate) const ISSUER_PORT: u16 = 5802;
/// How long a client waits before dialling again.
const RECONNECT_MS: u64 = 1_000;

/// Business time now, inside a host.
pub(crate) fn now(world: &Shared) -> Instant {
    let elapsed = turmoil::sim_elapsed().expect("inside the simulation");
    Instant::from_millis(world.borrow().offset_ms + elapsed.as_millis() as u64)
}

/// The world's idleness tracker (every task and sleep of a shell reports to it).
fn quiet(world: &Shared) -> Rc<Quiet> {
    world.borrow().quiet.clone()
}

/// Spawns a shell's task on the current host, its polls counted.
fn spawn(world: &Shared, task: impl Future<Output = ()> + 'static) {
    tokio::task::spawn_local(quiet(world).counted(task));
}

/// Sends what is due now and schedules the rest.
pub(crate) fn dispatch(world: &Shared, laters: Vec<Later>) {
    let mut queue = laters;
    // Each pass can only produce frames for other actors; bounded by their outboxes.
    let mut passes = 0;
    while !queue.is_empty() {
        passes += 1;
        assert!(passes < 10_000, "frames keep producing frames");
        let mut next = Vec::new();
        for later in queue {
            if later.delay_ms == 0 {
                let at = now(world);
                next.extend(world.borrow_mut().send_now(at, later));
            } else {
                let delayed = world.clone();
                spawn(world, async move {
                    quiet(&delayed).sleep(Duration::from_millis(later.delay_ms)).await;
                    let at = now(&delayed);
                    let more = delayed.borrow_mut().send_now(at, Later { delay_ms: 0, ..later });
                    dispatch(&delayed, more);
                });
            }
        }
        queue = next;
    }
}

/// Wakes `node`'s actor at its deadlines and whenever something reaches it.
pub(crate) async fn drive(world: Shared, node: Node) {
    let notify = world.borrow_mut().waker(node);
    let quiet = quiet(&world);
    loop {
        let current = now(&world);
        let deadline = world.borrow().deadline(node);
        match deadline {
            Some(deadline) if deadline > current => {
                tokio::select! {
                    biased;
                    _ = notify.notified() => {}
                    _ = quiet.sleep(deadline - current) => {}
                }
            }
            Some(_) => {}
            None => notify.notified().await,
        }
        let at = now(&world);
        let laters = world.borrow_mut().drive(at, node);
        dispatch(&world, laters);
        // A deadline still not in the future would spin without time passing.
        if world.borrow().deadline(node).is_some_and(|deadline| deadline <= at) {
            quiet.sleep(Duration::from_millis(1)).await;
        }
    }
}

fn spawn_writer(world: &Shared, mut writer: OwnedWriteHalf) -> mpsc::Sender<Vec<u8>> {
    let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(CONNECTION_FRAMES_MAX);
    spawn(world, async move {
        while let Some(bytes) = receiver.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    sender
}

/// Reads whole frames from `reader` until it closes or stops framing.
async fn read_frames(mut reader: OwnedReadHalf, mut on_frame: impl FnMut(Vec<u8>)) {
    let mut buffer: Vec<u8> = Vec::with_capacity(FRAME_BYTES_MAX);
    let mut chunk = [0u8; 2048];
    loop {
        let read = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        buffer.extend_from_slice(&chunk[..read]);
        loop {
            match split_frame(&buffer) {
                Ok(Some(length)) => {
                    let frame: Vec<u8> = buffer.drain(..length).collect();
                    on_frame(frame);
                }
                Ok(None) => break,
                // Nothing after a frame that cannot frame can be trusted to align.
                Err(_) => return,
            }
        }
        assert!(buffer.len() <= 2 * FRAME_BYTES_MAX, "a partial frame over the limit");
    }
}

fn any_address(port: u16) -> (IpAddr, u16) {
    (IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
}

/// Keeps a client connection from `owner` to `peer` up, dialling again when it drops.
async fn keep_connected(world: Shared, owner: Node, peer: Node, host: String, port: u16) {
    let reset = {
        let mut state = world.borrow_mut();
        state
            .link_resets
            .entry((owner, peer))
            .or_insert_with(|| std::rc::Rc::new(tokio::sync::Notify::new()))
            .clone()
    };
    loop {
        if let Ok(stream) = TcpStream::connect((host.as_str(), port)).await {
            let (reader, writer) = stream.into_split();
            let sender = spawn_writer(&world, writer);
            world.borrow_mut().routes.insert((owner, peer), sender);
            let shared = world.clone();
            let frames = read_frames(reader, move |bytes| {
                let at = now(&shared);
                let laters = shared.borrow_mut().deliver(at, owner, peer, &bytes);
                dispatch(&shared, laters);
            });
            tokio::select! {
                biased;
                _ = reset.notified() => {}
                _ = frames => {}
            }
            world.borrow_mut().routes.remove(&(owner, peer));
        }
        quiet(&world).sleep(Duration::from_millis(RECONNECT_MS)).await;
    }
}

/// Accepts connections on `port`; each belongs to `peer`, or to the terminal
/// named in the frame's field 41 when `peer` is `None`.
async fn serve(world: Shared, owner: Node, port: u16, peer: Option<Node>) -> turmoil::Result {
    let listener = TcpListener::bind(any_address(port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let (reader, writer) = stream.into_split();
        let sender = spawn_writer(&world, writer);
        let shared = world.clone();
        if let Some(peer) = peer {
            shared.borrow_mut().routes.insert((owner, peer), sender.clone());
        }
        spawn(&world, async move {
            let inner = shared.clone();
            read_frames(reader, move |bytes| {
                let from = peer.unwrap_or_else(|| Node::Terminal(terminal_of(&bytes)));
                inner.borrow_mut().routes.insert((owner, from), sender.clone());
                let at = now(&inner);
                let laters = inner.borrow_mut().deliver(at, owner, from, &bytes);
                dispatch(&inner, laters);
            })
            .await;
        });
    }
}

/// The terminal a frame names in field 41; frames that do not decode are
/// still handed to the switch (which drops them) under a placeholder id.
fn terminal_of(bytes: &[u8]) -> TerminalId {
    Frame::decode(bytes)
        .ok()
        .and_then(|frame| frame.message.get(41).and_then(TerminalId::from_wire))
        .unwrap_or_else(|| TerminalId::new("????????").expect("eight printable characters"))
}

pub(crate) async fn switch_host(world: Shared) -> turmoil::Result {
    spawn(&world, drive(world.clone(), Node::Switch));
    spawn(
        &world,
        keep_connected(world.clone(), Node::Switch, Node::Network, "network".into(), NETWORK_PORT),
    );
    serve(world, Node::Switch, SWITCH_PORT, None).await
}

pub(crate) async fn network_host(world: Shared, issuers: Vec<u16>) -> turmoil::Result {
    spawn(&world, drive(world.clone(), Node::Network));
    for index in issuers {
        spawn(
            &world,
            keep_connected(
                world.clone(),
                Node::Network,
                Node::Issuer(index),
                format!("issuer-{index}"),
                ISSUER_PORT,
            ),
        );
    }
    serve(world, Node::Network, NETWORK_PORT, Some(Node::Switch)).await
}

pub(crate) async fn issuer_host(world: Shared, index: u16) -> turmoil::Result {
    spawn(&world, drive(world.clone(), Node::Issuer(index)));
    serve(world, Node::Issuer(index), ISSUER_PORT, Some(Node::Network)).await
}

/// One terminal's connection to the switch: dialled at start, and again after
/// a reset or a switch restart.
async fn terminal_line(world: Shared, id: TerminalId) {
    let node = Node::Terminal(id);
    let reset = {
        let mut state = world.borrow_mut();
        state
            .resets
            .entry(id)
            .or_insert_with(|| std::rc::Rc::new(tokio::sync::Notify::new()))
            .clone()
    };
    loop {
        if let Ok(stream) = TcpStream::connect(("switch", SWITCH_PORT)).await {
            let (reader, writer) = stream.into_split();
            let sender = spawn_writer(&world, writer);
            world.borrow_mut().routes.insert((node, Node::Switch), sender);
            let shared = world.clone();
            let frames = read_frames(reader, move |bytes| {
                let at = now(&shared);
                let laters = shared.borrow_mut().arrive_at_terminal(at, id, bytes);
                dispatch(&shared, laters);
            });
            tokio::select! {
                biased;
                _ = reset.notified() => {}
                _ = frames => {}
            }
            world.borrow_mut().routes.remove(&(node, Node::Switch));
        }
        quiet(&world).sleep(Duration::from_millis(RECONNECT_MS)).await;
    }
}

pub(crate) async fn farm_host(world: Shared, terminals: Vec<TerminalId>) -> turmoil::Result {
    for id in terminals {
        spawn(&world, drive(world.clone(), Node::Terminal(id)));
        spawn(&world, terminal_line(world.clone(), id));
    }
    std::future::pending::<()>().await;
    Ok(())
}
