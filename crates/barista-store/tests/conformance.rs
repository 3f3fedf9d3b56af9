//! The store conformance story: one sequence of transactions that every backend
//! must pass with the same results. It runs against SQLite always, and against
//! PostgreSQL when `BARISTA_TEST_POSTGRES_URL` names a database.

use barista_domain::{
    IdempotencyKey, IdempotentRequest, ItemBody, ItemFields, ItemId, ItemPatch, ItemPatchBody,
    NewOrder, NewOrderBody, NewShop, OrderId, Shop, ShopBody, Slug, Status,
};
use barista_store::{EventPos, MenuChange, OrderPage, Placed, Store, StoreError};
use std::sync::{Arc, Mutex};

fn item_id(s: &str) -> ItemId {
    ItemId::parse(s).unwrap()
}

fn item_body(name: &str, category: &str, price: i64, stock: Option<i64>) -> ItemBody {
    ItemBody {
        name: name.into(),
        description: String::new(),
        category: category.into(),
        price_cents: Some(price),
        available: true,
        stock,
        variations: vec![],
        modifier_groups: vec![],
    }
}

fn fields(name: &str, price: i64, stock: Option<i64>) -> ItemFields {
    ItemFields::parse(item_body(name, "coffee", price, stock)).unwrap()
}

fn order_of(lines: &[(&str, i64)]) -> NewOrder {
    let lines: Vec<String> = lines
        .iter()
        .map(|(id, q)| format!(r#"{{"item_id": "{id}", "quantity": {q}}}"#))
        .collect();
    let body: NewOrderBody = serde_json::from_str(&format!(
        r#"{{"customer_name": "Ana", "lines": [{}]}}"#,
        lines.join(",")
    ))
    .unwrap();
    NewOrder::parse(body).unwrap()
}

fn new(slug: &str, name: &str) -> NewShop {
    NewShop::parse(ShopBody {
        slug: slug.into(),
        name: name.into(),
        currency: "EUR".into(),
    })
    .unwrap()
}

async fn new_shop(store: &dyn Store, slug: &str) -> Shop {
    store
        .create_shop(new(slug, "Test Shop"), vec![7; 32])
        .await
        .unwrap()
}

async fn stock_of(store: &dyn Store, shop: &Shop, id: &str) -> Option<i64> {
    let menu = store.menu(shop).await.unwrap();
    menu.items
        .into_iter()
        .find(|i| i.id.as_str() == id)
        .unwrap()
        .stock
}

/// The whole story; `slug_prefix` keeps runs on a shared database apart.
pub async fn story(store: Arc<dyn Store>, slug_prefix: &str) {
    let store = store.as_ref();
    // Every menu change is announced on the feed, with the version it made.
    let announced: Arc<Mutex<Vec<(i64, MenuChange)>>> = Arc::default();
    let log = announced.clone();
    store
        .feed()
        .on_menu_change(move |shop, change| log.lock().unwrap().push((shop, change)));
    // The version the last edit announced.
    let last_announced = |shop: &Shop| {
        announced
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|(id, change)| match change {
                MenuChange::To(v) if *id == shop.id => Some(*v),
                _ => None,
            })
    };
    let stock_moved = |shop: &Shop| {
        let mut log = announced.lock().unwrap();
        let moved = log
            .iter()
            .any(|(id, change)| *id == shop.id && *change == MenuChange::Stock);
        log.retain(|(_, change)| *change != MenuChange::Stock);
        moved
    };
    let slug = format!("{slug_prefix}-shop");
    assert!(
        store
            .shop(&Slug::parse(&slug).unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let shop = new_shop(store, &slug).await;
    assert!(store.has_shops().await.unwrap());
    let again = store.create_shop(new(&slug, "Other"), vec![1; 32]).await;
    assert!(matches!(again, Err(StoreError::SlugTaken)), "{again:?}");
    assert_eq!(store.shop(&shop.slug).await.unwrap().unwrap(), shop);

    // Menu writes bump the version and announce it; items come ordered by category then id.
    let v0 = store.menu_version(&shop).await.unwrap();
    let put = store
        .put_item(&shop, item_id("latte"), fields("Latte", 390, None))
        .await
        .unwrap();
    assert!(put.created);
    assert!(last_announced(&shop).unwrap() > v0);
    let put = store
        .put_item(&shop, item_id("latte"), fields("Latte", 400, None))
        .await
        .unwrap();
    assert!(!put.created);
    store
        .put_item(
            &shop,
            item_id("bun"),
            ItemFields::parse(item_body("Bun", "bakery", 300, Some(3))).unwrap(),
        )
        .await
        .unwrap();
    store
        .put_item(&shop, item_id("gone"), fields("Gone", 1, None))
        .await
        .unwrap();
    store.delete_item(&shop, item_id("gone")).await.unwrap();
    let v = last_announced(&shop).unwrap();
    assert!(matches!(
        store.delete_item(&shop, item_id("gone")).await,
        Err(StoreError::NotFound)
    ));
    let patched = store
        .patch_item(
            &shop,
            item_id("latte"),
            ItemPatch::parse(ItemPatchBody {
                price_cents: Some(380),
                ..Default::default()
            })
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(patched.price_cents, 380);
    assert_eq!(patched.name, "Latte");
    assert!(last_announced(&shop).unwrap() > v);
    let menu = store.menu(&shop).await.unwrap();
    assert_eq!(Some(menu.version), last_announced(&shop));
    let ids: Vec<_> = menu.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["bun", "latte"]);

    // Orders are priced from the menu; stock is taken for all lines or none.
    let no_order_yet = store.last_event_any().await.unwrap();
    let before = store.menu_version(&shop).await.unwrap();
    let placed = store
        .place_order(&shop, order_of(&[("latte", 2), ("bun", 1)]), None)
        .await
        .unwrap();
    let Placed::Created(first) = placed else {
        panic!("not created")
    };
    assert_eq!(first.total_cents, 2 * 380 + 300);
    assert_eq!(first.status, Status::Placed);
    assert!(stock_moved(&shop), "taking stock changes the menu");
    let after = store.menu_version(&shop).await.unwrap();
    assert!(after > before);
    // Many shops at once, in batches of 64: the same versions, missing shops left out.
    let other = new_shop(store, &format!("{slug_prefix}-second")).await;
    let mut ids: Vec<i64> = (0..70).map(|i| -1 - i).collect();
    ids.insert(3, shop.id);
    ids.push(other.id);
    let mut versions = store.menu_versions(&ids).await.unwrap();
    versions.sort_unstable();
    let mut expected = vec![
        (shop.id, after),
        (other.id, store.menu_version(&other).await.unwrap()),
    ];
    expected.sort_unstable();
    assert_eq!(versions, expected);
    assert!(store.menu_versions(&[]).await.unwrap().is_empty());
    assert_eq!(stock_of(store, &shop, "bun").await, Some(2));
    let short = store
        .place_order(&shop, order_of(&[("latte", 1), ("bun", 3)]), None)
        .await;
    assert!(
        matches!(short, Err(StoreError::OutOfStock { ref item }) if item.as_str() == "bun"),
        "{short:?}"
    );
    assert_eq!(stock_of(store, &shop, "bun").await, Some(2));
    let unknown = store
        .place_order(&shop, order_of(&[("nope", 1)]), None)
        .await;
    assert!(
        matches!(unknown, Err(StoreError::ItemUnavailable(_))),
        "{unknown:?}"
    );

    // Idempotency: same key and fingerprint replays; another fingerprint is refused.
    let key =
        |order: &NewOrder| IdempotentRequest::new(IdempotencyKey::parse(b"key-1").unwrap(), order);
    let one = order_of(&[("latte", 1)]);
    let Placed::Created(keyed) = store
        .place_order(&shop, one.clone(), Some(key(&one)))
        .await
        .unwrap()
    else {
        panic!("not created")
    };
    let replay = store
        .place_order(&shop, one.clone(), Some(key(&one)))
        .await
        .unwrap();
    assert!(matches!(replay, Placed::Replayed(ref o) if *o == keyed));
    let two = order_of(&[("latte", 2)]);
    let reused = store.place_order(&shop, two.clone(), Some(key(&two))).await;
    assert!(matches!(reused, Err(StoreError::IdempotencyKeyReused)));

    // The queue: claim takes the oldest placed order.
    let claimed = store.claim_next(&shop).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(claimed.status, Status::Brewing);
    assert_eq!(claimed.version, 2);
    let moved = store.set_status(&shop, first.id, Status::Collected).await;
    assert!(matches!(moved, Err(StoreError::InvalidTransition(_))));
    let ready = store
        .set_status(&shop, first.id, Status::Ready)
        .await
        .unwrap();
    assert_eq!(ready.version, 3);
    let before = store.menu_version(&shop).await.unwrap();
    store
        .set_status(&shop, first.id, Status::Cancelled)
        .await
        .unwrap();
    assert!(stock_moved(&shop), "a cancel changes the menu");
    assert!(store.menu_version(&shop).await.unwrap() > before);
    assert_eq!(
        stock_of(store, &shop, "bun").await,
        Some(3),
        "cancel gives stock back"
    );
    let missing = store
        .set_status(&shop, OrderId::generate(), Status::Ready)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));

    // Listing: oldest first, paged, filtered.
    let page = store
        .list_orders(
            &shop,
            OrderPage {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.0.len(), 1);
    assert_eq!(page.0[0].id, first.id);
    let rest = store
        .list_orders(
            &shop,
            OrderPage {
                limit: 10,
                after: page.1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.0.iter().map(|o| o.id).collect::<Vec<_>>(), [keyed.id]);
    assert!(rest.1.is_none());
    let placed_only = store
        .list_orders(
            &shop,
            OrderPage {
                limit: 10,
                status: Some(Status::Placed),
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(placed_only.0.len(), 1);

    // Events: one per change, in order, per order on request, each the order as it was.
    let all = store
        .events_after(&shop, EventPos::default(), 100)
        .await
        .unwrap();
    assert_eq!(
        all.len(),
        5,
        "two orders placed, three changes of the first"
    );
    assert!(
        all.windows(2).all(|w| w[1].pos > w[0].pos),
        "in stream order"
    );
    assert_eq!(
        store.last_event(&shop).await.unwrap(),
        all.last().unwrap().pos
    );
    let statuses: Vec<_> = all
        .iter()
        .filter(|e| e.order.id == first.id)
        .map(|e| (e.order.status, e.order.version))
        .collect();
    assert_eq!(
        statuses,
        [
            (Status::Placed, 1),
            (Status::Brewing, 2),
            (Status::Ready, 3),
            (Status::Cancelled, 4)
        ]
    );
    assert_eq!(all[0].order, first, "an event carries the whole order");
    // Every shop's events at once (the replica's one reader): this shop's are
    // the same events, in the same order, named by the shop's id.
    let any = store.events_after_any(no_order_yet, 10_000).await.unwrap();
    assert!(
        any.windows(2).all(|w| w[1].1.pos > w[0].1.pos),
        "in stream order"
    );
    let ours: Vec<_> = any
        .iter()
        .filter(|(id, _)| *id == shop.id)
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(ours, all);
    assert!(
        any.iter()
            .all(|(id, e)| *id != shop.id || e.order.shop == shop.slug)
    );
    assert!(store.last_event_any().await.unwrap() >= all.last().unwrap().pos);
    let after_two = store.events_after(&shop, all[1].pos, 100).await.unwrap();
    assert_eq!(after_two, all[2..], "a cursor resumes exactly after itself");
    let of_first = store
        .order_events_after(&shop, first.id, 1, 100)
        .await
        .unwrap();
    assert_eq!(of_first.len(), 3);
    assert_eq!(of_first.last().unwrap().order.status, Status::Cancelled);

    // Tenants are apart: another shop sees none of it.
    let other = new_shop(store, &format!("{slug_prefix}-other")).await;
    assert!(store.order(&other, first.id).await.unwrap().is_none());
    assert!(store.order(&shop, first.id).await.unwrap().is_some());
    assert!(
        store
            .events_after(&other, EventPos::default(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.ping().await.unwrap();
    retention(store, &format!("{slug_prefix}-purge")).await;
    tenants(store, &format!("{slug_prefix}-tenant")).await;
}

/// Expired keys and old events are deleted in batches of the size asked, the
/// orders stay, and a forgotten key places a new order.
async fn retention(store: &dyn Store, slug: &str) {
    use barista_domain::Timestamp;
    let shop = new_shop(store, slug).await;
    store
        .put_item(&shop, item_id("tea"), fields("Tea", 300, None))
        .await
        .unwrap();
    let tea = order_of(&[("tea", 1)]);
    let mut placed = vec![];
    for i in 0..5 {
        let key = IdempotencyKey::parse(format!("purge-{i}").as_bytes()).unwrap();
        let Placed::Created(o) = store
            .place_order(&shop, tea.clone(), Some(IdempotentRequest::new(key, &tea)))
            .await
            .unwrap()
        else {
            panic!("not created")
        };
        placed.push(o);
    }
    let count_events = || async {
        store
            .events_after(&shop, EventPos::default(), 100)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(count_events().await, 5);
    // Nothing is old yet: a cut-off an hour ago deletes nothing.
    let hour_ago = Timestamp::from_micros(Timestamp::now().micros() - 3_600_000_000);
    let none = store.purge(shop.id, hour_ago, hour_ago, 2).await.unwrap();
    assert_eq!((none.keys, none.events), (0, 0));
    // Everything is old for a cut-off in the future: two at a time, then the rest.
    let later = Timestamp::from_micros(Timestamp::now().micros() + 1_000_000);
    let mut batches = vec![];
    loop {
        let purged = store.purge(shop.id, later, later, 2).await.unwrap();
        batches.push((purged.keys, purged.events));
        if purged.keys < 2 && purged.events < 2 {
            break;
        }
    }
    assert_eq!(batches, [(2, 2), (2, 2), (1, 1)], "batches of at most 2");
    assert_eq!(count_events().await, 0, "the events are gone");
    for o in &placed {
        assert_eq!(
            store.order(&shop, o.id).await.unwrap().as_ref(),
            Some(o),
            "orders stay"
        );
    }
    // The key is forgotten: the same request is a new order.
    let key = IdempotencyKey::parse(b"purge-0").unwrap();
    let again = store
        .place_order(&shop, tea.clone(), Some(IdempotentRequest::new(key, &tea)))
        .await
        .unwrap();
    assert!(matches!(again, Placed::Created(ref o) if o.id != placed[0].id));
}

/// Races, on any backend: many baristas claiming at once claim every order
/// exactly once and skip none; two cancels of one order give its stock back
/// once (one wins, the other is an invalid move).
async fn races(store: Arc<dyn Store>, slug: &str) {
    let shop = new_shop(store.as_ref(), &format!("{slug}-race")).await;
    store
        .put_item(&shop, item_id("bun"), fields("Bun", 300, Some(1_000)))
        .await
        .unwrap();
    const ORDERS: usize = 60;
    let mut placed = std::collections::HashSet::new();
    for _ in 0..ORDERS {
        let Placed::Created(order) = store
            .place_order(&shop, order_of(&[("bun", 1)]), None)
            .await
            .unwrap()
        else {
            panic!("not created")
        };
        placed.insert(order.id);
    }
    // Eight baristas claim until the queue is empty.
    let mut baristas = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (store, shop) = (store.clone(), shop.clone());
        baristas.spawn(async move {
            let mut mine = Vec::new();
            while let Some(order) = store.claim_next(&shop).await.unwrap() {
                assert_eq!(order.status, Status::Brewing);
                mine.push(order.id);
            }
            mine
        });
    }
    let mut claimed = Vec::new();
    while let Some(mine) = baristas.join_next().await {
        claimed.extend(mine.unwrap());
    }
    let unique: std::collections::HashSet<_> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), ORDERS, "no order claimed twice");
    assert_eq!(unique, placed, "every order claimed, none skipped");

    // Two cancels of one order at once: one wins, stock comes back once.
    let before = stock_of(store.as_ref(), &shop, "bun").await.unwrap();
    let Placed::Created(order) = store
        .place_order(&shop, order_of(&[("bun", 5)]), None)
        .await
        .unwrap()
    else {
        panic!("not created")
    };
    assert_eq!(
        stock_of(store.as_ref(), &shop, "bun").await,
        Some(before - 5)
    );
    let cancel = |store: Arc<dyn Store>, shop: Shop, id| async move {
        store.set_status(&shop, id, Status::Cancelled).await
    };
    let (a, b) = tokio::join!(
        tokio::spawn(cancel(store.clone(), shop.clone(), order.id)),
        tokio::spawn(cancel(store.clone(), shop.clone(), order.id)),
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    let won = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(won, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(StoreError::InvalidTransition(_)))),
        "{outcomes:?}"
    );
    assert_eq!(
        stock_of(store.as_ref(), &shop, "bun").await,
        Some(before),
        "the stock came back once"
    );
}

/// A fresh SQLite store in `dir`.
async fn sqlite_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    barista_store::open(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        &Default::default(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_store_passes_the_conformance_story() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    story(store.clone(), "sq").await;
    races(store, "sq").await;
}

#[tokio::test]
async fn a_sqlite_order_survives_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let id = {
        let store = barista_store::open(&url, &Default::default())
            .await
            .unwrap();
        let shop = new_shop(store.as_ref(), "reopen").await;
        store
            .put_item(&shop, item_id("tea"), fields("Tea", 300, None))
            .await
            .unwrap();
        match store
            .place_order(&shop, order_of(&[("tea", 1)]), None)
            .await
            .unwrap()
        {
            Placed::Created(order) => order.id,
            Placed::Replayed(_) => unreachable!(),
        }
    };
    let store = barista_store::open(&url, &Default::default())
        .await
        .unwrap();
    let shop = store
        .shop(&Slug::parse("reopen").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(store.order(&shop, id).await.unwrap().is_some());
}

/// A client that disconnects while its order is being committed drops the
/// store's future; the order still commits, and the streams must still hear
/// of it (they were not woken when the announce ran after the caller's await).
#[tokio::test]
async fn a_sqlite_order_whose_caller_went_away_still_wakes_the_streams() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let shop = new_shop(store.as_ref(), "gone").await;
    store
        .put_item(&shop, item_id("tea"), fields("Tea", 300, None))
        .await
        .unwrap();
    let mut wake = store.feed().subscribe();
    wake.borrow_and_update();
    {
        // Polled once, so the job is queued to the writer, then dropped.
        let placing = store.place_order(&shop, order_of(&[("tea", 1)]), None);
        let mut placing = std::pin::pin!(placing);
        assert!(futures_poll_once(placing.as_mut()).await.is_none());
    }
    let woken = tokio::time::timeout(std::time::Duration::from_secs(10), wake.changed()).await;
    let (orders, _) = store
        .list_orders(
            &shop,
            OrderPage {
                status: None,
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(orders.len(), 1, "the order was committed");
    assert!(
        matches!(woken, Ok(Ok(()))),
        "a committed order wakes the shop's streams even when its caller went away"
    );
}

/// Polls `f` once: `Some` if it finished.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut f).poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

/// The same story on PostgreSQL, when the test command provides one
/// (`scripts/with-postgres`, used by `scripts/test`, always does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_passes_the_conformance_story() {
    let Some(url) =
        barista_testkit::postgres_url("the_postgres_store_passes_the_conformance_story")
    else {
        return;
    };
    let store = barista_store::open(&url, &Default::default())
        .await
        .unwrap();
    // Slugs unique to this run: the database outlives it.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    story(store.clone(), &format!("pg{nanos:x}")).await;
    races(store, &format!("pg{nanos:x}")).await;
}

/// A shop with a bit of everything: a stocked item, a modifier group, hours,
/// orders in every state, one placed with an idempotency key.
async fn busy_shop(store: &dyn Store, slug: &str) -> Shop {
    let shop = new_shop(store, slug).await;
    store
        .put_item(&shop, item_id("bun"), fields("Bun", 250, Some(40)))
        .await
        .unwrap();
    let group: barista_domain::ModifierGroupBody = serde_json::from_str(
        r#"{"name": "Milk", "min": 0, "max": 1, "modifiers": [
            {"id": "oat", "name": "Oat", "price_delta_cents": 50}]}"#,
    )
    .unwrap();
    store
        .put_modifier_group(
            &shop,
            barista_domain::ModifierGroup::parse(item_id("milk"), group).unwrap(),
        )
        .await
        .unwrap();
    let mut body = item_body("Latte", "coffee", 350, None);
    body.modifier_groups = vec!["milk".into()];
    store
        .put_item(&shop, item_id("latte"), ItemFields::parse(body).unwrap())
        .await
        .unwrap();
    let key = IdempotentRequest::new(
        IdempotencyKey::parse(b"tenant-key-1").unwrap(),
        &order_of(&[("bun", 2)]),
    );
    store
        .place_order(&shop, order_of(&[("bun", 2)]), Some(key))
        .await
        .unwrap();
    for (i, to) in [Status::Ready, Status::Collected, Status::Cancelled]
        .into_iter()
        .enumerate()
    {
        store
            .place_order(&shop, order_of(&[("latte", 1 + i as i64)]), None)
            .await
            .unwrap();
        let claimed = store.claim_next(&shop).await.unwrap().unwrap();
        if to == Status::Collected {
            store
                .set_status(&shop, claimed.id, Status::Ready)
                .await
                .unwrap();
        }
        store.set_status(&shop, claimed.id, to).await.unwrap();
    }
    shop
}

async fn all_orders(store: &dyn Store, shop: &Shop) -> Vec<barista_domain::Order> {
    let page = OrderPage {
        status: None,
        after: None,
        limit: 200,
    };
    store.list_orders(shop, page).await.unwrap().0
}

/// Every table the shop owns, and its row counts.
async fn rows(store: &dyn Store, shop: &Shop) -> Vec<(&'static str, i64)> {
    store.shop_rows(shop.id).await.unwrap()
}

/// The operator's story: a new key, a new name, suspension; the day's
/// report; a shop exported, deleted to the last row, and imported back the same.
async fn tenants(store: &dyn Store, slug: &str) {
    let shop = busy_shop(store, slug).await;
    // A new key: the shop reads back with it, and with a higher version.
    let changed = store.replace_staff_key(&shop, vec![9; 32]).await.unwrap();
    assert_eq!(changed.staff_key_hash, vec![9; 32]);
    assert!(changed.version > shop.version);
    let change = barista_store::ShopChange {
        name: Some("Renamed".into()),
        suspended: Some(true),
    };
    let changed = store.change_shop(&changed, change).await.unwrap();
    assert!(changed.suspended);
    assert_eq!(changed.name, "Renamed");
    assert!(matches!(
        store
            .place_order(&changed, order_of(&[("bun", 1)]), None)
            .await,
        Err(StoreError::Suspended)
    ));
    let listed = store.shops(&slug[..slug.len() - 1], 1000).await.unwrap();
    assert!(listed.iter().any(|s| s.slug == shop.slug && s.suspended));
    let shop = store
        .change_shop(
            &changed,
            barista_store::ShopChange {
                name: None,
                suspended: Some(false),
            },
        )
        .await
        .unwrap();

    // Today's orders, as the report reads them.
    let now = barista_domain::Timestamp::now();
    let day = barista_domain::ReportRange::parse(None, None, "UTC", now).unwrap();
    let report = store.report(&shop, &day).await.unwrap();
    assert_eq!(report.orders, 4);
    assert_eq!(report.cancelled.orders, 1);
    // Claims take the oldest first: the buns went ready, one latte was
    // collected, two lattes were cancelled, and three lattes wait.
    assert_eq!(report.revenue_cents, 2 * 250 + 350 + 3 * 350);
    assert_eq!(report.ready_orders, 2, "ready, and collected after ready");
    // A thousand times the orders (as a copy of the shop, imported): the
    // report reads them a page at a time, across pages of orders placed at
    // the same instant, and counts each once.
    let mut big = store.export_shop(&shop).await.unwrap();
    big.shop.insert("slug".into(), format!("{slug}-big").into());
    let one = big.tables["orders"].clone();
    let copies: Vec<_> = (0..1000)
        .flat_map(|n| {
            one.iter().map(move |row| {
                let mut row = row.clone();
                let id = row["id"].as_str().unwrap();
                let id = format!("{}{n:012x}", &id[..id.len() - 12]); // still a UUID
                row.insert("id".into(), id.into());
                row
            })
        })
        .collect();
    big.tables.insert("orders".into(), copies);
    let big = store.import_shop(big).await.unwrap();
    let many = store.report(&big, &day).await.unwrap();
    assert_eq!(
        (many.orders, many.cancelled.orders, many.ready_orders),
        (4000, 1000, 2000)
    );
    assert_eq!(many.revenue_cents, 1000 * report.revenue_cents);
    assert_eq!(many.median_ready_seconds, report.median_ready_seconds);
    store.delete_shop(&big).await.unwrap();

    // Exported, deleted, imported back: the same shop, row for row.
    let export = store.export_shop(&shop).await.unwrap();
    let menu = store.menu(&shop).await.unwrap();
    let orders = all_orders(store, &shop).await;
    let counts = rows(store, &shop).await;
    assert!(counts.iter().all(|(_, n)| *n > 0), "{counts:?}");
    store.delete_shop(&shop).await.unwrap();
    assert!(
        rows(store, &shop).await.iter().all(|(_, n)| *n == 0),
        "a deleted shop leaves no row: {:?}",
        rows(store, &shop).await
    );
    assert!(store.shop(&shop.slug).await.unwrap().is_none());
    assert!(matches!(
        store.delete_shop(&shop).await,
        Err(StoreError::NotFound)
    ));
    let back = store.import_shop(export.clone()).await.unwrap();
    assert_eq!(
        (&back.name, back.staff_key_hash.clone(), back.version),
        (&shop.name, shop.staff_key_hash.clone(), shop.version)
    );
    assert_eq!(
        rows(store, &back)
            .await
            .iter()
            .map(|r| r.1)
            .collect::<Vec<_>>(),
        counts.iter().map(|r| r.1).collect::<Vec<_>>()
    );
    assert_eq!(store.menu(&back).await.unwrap(), menu);
    assert_eq!(all_orders(store, &back).await, orders);
    let again = store.export_shop(&back).await.unwrap();
    assert_eq!(
        (again.shop, again.tables),
        (export.shop.clone(), export.tables.clone())
    );
    // The key replays the first order, as before the move.
    let key = IdempotentRequest::new(
        IdempotencyKey::parse(b"tenant-key-1").unwrap(),
        &order_of(&[("bun", 2)]),
    );
    assert!(matches!(
        store
            .place_order(&back, order_of(&[("bun", 2)]), Some(key))
            .await
            .unwrap(),
        Placed::Replayed(_)
    ));
    // A second import of the same slug is refused, and changes nothing.
    assert!(matches!(
        store.import_shop(export.clone()).await,
        Err(StoreError::SlugTaken)
    ));
    // A damaged file changes nothing either, whichever row is bad.
    let mut damaged = export.clone();
    damaged
        .shop
        .insert("slug".into(), format!("{slug}-x").into());
    damaged.tables.get_mut("orders").unwrap()[1].insert("lines".into(), "not json".into());
    assert!(matches!(
        store.import_shop(damaged.clone()).await,
        Err(StoreError::Invalid(_))
    ));
    let x = Slug::parse(&format!("{slug}-x")).unwrap();
    assert!(store.shop(&x).await.unwrap().is_none(), "rolled back");
}

/// A shop exported from one Barista and imported into an empty one (SQLite
/// to SQLite always, and SQLite to PostgreSQL under the test command) reads
/// back the same menu and orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_exported_from_one_database_imports_into_another() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from = sqlite_store(&a).await;
    let shop = busy_shop(from.as_ref(), "moving").await;
    let export = from.export_shop(&shop).await.unwrap();
    // Through the file format, as `barista shops export` writes it.
    let file = serde_json::to_vec(&export).unwrap();
    let export: barista_store::ShopExport = serde_json::from_slice(&file).unwrap();
    let mut targets = vec![sqlite_store(&b).await];
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut export = export;
    if let Some(url) =
        barista_testkit::postgres_url("a_shop_exported_from_one_database_imports_into_another")
    {
        targets.push(
            barista_store::open(&url, &Default::default())
                .await
                .unwrap(),
        );
        // The database outlives the test: a slug of this run's own.
        export
            .shop
            .insert("slug".into(), format!("moving-{nanos:x}").into());
    }
    for to in targets {
        let moved = to.import_shop(export.clone()).await.unwrap();
        let mut menu = to.menu(&moved).await.unwrap();
        menu.shop = shop.slug.clone();
        assert_eq!(menu, from.menu(&shop).await.unwrap());
        let (theirs, ours) = (
            all_orders(to.as_ref(), &moved).await,
            all_orders(from.as_ref(), &shop).await,
        );
        assert_eq!(theirs.len(), ours.len());
        for (t, o) in theirs.iter().zip(&ours) {
            assert_eq!(
                (t.id, &t.lines, t.status, t.total_cents, t.created_at),
                (o.id, &o.lines, o.status, o.total_cents, o.created_at)
            );
        }
        assert_eq!(
            rows(to.as_ref(), &moved)
                .await
                .iter()
                .map(|r| r.1)
                .collect::<Vec<_>>(),
            rows(from.as_ref(), &shop)
                .await
                .iter()
                .map(|r| r.1)
                .collect::<Vec<_>>()
        );
    }
}
