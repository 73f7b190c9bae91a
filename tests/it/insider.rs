//! A hand in the database: what an insider with write access to the queue can make the
//! records say, and what the program then believes (nothing it did not prove) and what
//! `receipts --verify` finds. On both backends.

use crate::on_both;
use crate::support::*;

async fn verify(app: &App) -> (Option<i32>, String) {
    let out = app.reaper(&["receipts", "--verify"]).await;
    (
        out.status.code(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

/// A time `days` before the column's value, in the backend's own terms.
fn days_before(column: &str, days: u32) -> String {
    match backend() {
        Backend::Sqlite => format!("strftime('%Y-%m-%d %H:%M:%f', {column}, '-{days} days')"),
        Backend::Postgres => format!("{column} - interval '{days} days'"),
    }
}

on_both!(a_row_written_deleted_by_hand_settles_nothing_and_is_named);
async fn a_row_written_deleted_by_hand_settles_nothing_and_is_named() {
    let app = spawn_app(&[]).await;
    let [real, forged] = [ids(0, 1), ids(1, 1)].map(|v| v[0].clone());
    // A genuine deletion, then the same video queued again: settled from that deletion
    // (the chain records it), nothing sent.
    app.insert("default", std::slice::from_ref(&real)).await;
    assert!(app.reaper(&["run", "--once"]).await.status.success());
    app.insert("default", std::slice::from_ref(&real)).await;
    assert!(app.reaper(&["run", "--once"]).await.status.success());
    assert_eq!(app.standin.received().len(), 1, "settled from history");
    let proofs = app
        .pool
        .texts("SELECT proof FROM deletion_queue ORDER BY id")
        .await;
    assert_eq!(
        proofs,
        [
            vec![Some("listed_answered".to_owned())],
            vec![Some("history".to_owned())]
        ]
    );
    assert_eq!(verify(&app).await.0, Some(0));

    // A row written `deleted` by hand, then the same video queued: sent, not settled from
    // the forged row.
    app.pool
        .execute(&format!(
            "INSERT INTO deletion_queue (video_no, unique_id, status) VALUES ('{forged}', 'default', 'deleted')"
        ))
        .await
        .unwrap();
    app.insert("default", std::slice::from_ref(&forged)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.standin.received().len(), 2, "the real row was not sent");
    let (code, said) = verify(&app).await;
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("with no chain entry"), "{said}");
}

on_both!(rows_settled_by_hand_are_named_whatever_their_settled_at);
async fn rows_settled_by_hand_are_named_whatever_their_settled_at() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 2)).await;
    assert!(app.reaper(&["run", "--once"]).await.status.success());
    assert_eq!(verify(&app).await.0, Some(0));
    app.insert("default", &ids(10, 1)).await;
    for (edit, found) in [
        // A pending row set deleted, its settled_at left empty.
        (
            "UPDATE deletion_queue SET status = 'deleted' WHERE status = 'pending'".to_owned(),
            "with no chain entry",
        ),
        // With a settled_at before the row was queued, before the chain began.
        (
            format!(
                "UPDATE deletion_queue SET settled_at = {} WHERE proof IS NULL",
                days_before("enqueued_at", 400)
            ),
            "before the row was queued",
        ),
        // A genuine deletion's time moved before its own request.
        (
            "UPDATE deletion_queue SET settled_at = enqueued_at
              WHERE id = (SELECT min(id) FROM deletion_queue)"
                .to_owned(),
            "before the request that settled it",
        ),
    ] {
        app.pool.execute(&edit).await.unwrap();
        let (code, said) = verify(&app).await;
        assert_eq!(code, Some(1), "{edit}: {said}");
        assert!(said.contains(found), "{edit}: {said}");
    }
}

on_both!(a_prefix_of_the_chain_removed_by_hand_is_found_though_the_head_is_the_same);
async fn a_prefix_of_the_chain_removed_by_hand_is_found_though_the_head_is_the_same() {
    let app = spawn_app(&[]).await;
    for n in 0..3 {
        app.insert("default", &ids(n, 1)).await;
        assert!(app.reaper(&["run", "--once"]).await.status.success());
    }
    let head = |said: &str| {
        said.lines()
            .find_map(|l| l.split("; head ").nth(1))
            .unwrap_or("")
            .to_owned()
    };
    let (code, said) = verify(&app).await;
    assert_eq!(code, Some(0), "{said}");
    let before = head(&said);
    assert_eq!(before.len(), 64, "{said}");
    // The first deletion's entries and rows removed, the anchor moved onto the entry
    // before the second one's request (a prune's work, done by hand).
    for sql in [
        "DELETE FROM deletion_queue WHERE id = (SELECT min(id) FROM deletion_queue)",
        "UPDATE settlement_anchor SET (seq, hash) = (SELECT seq, hash FROM settlement_chain
            WHERE seq < (SELECT min(seq) FROM settlement_chain WHERE kind = 'request' AND batch_id > 1)
            ORDER BY seq DESC LIMIT 1)",
        "DELETE FROM settlement_chain WHERE seq <= (SELECT seq FROM settlement_anchor)",
        "DELETE FROM deletion_batches WHERE id = 1",
    ] {
        app.pool.execute(sql).await.unwrap();
    }
    let (code, said) = verify(&app).await;
    assert_eq!(head(&said), before, "the same head: {said}");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("no chain entry records a prune to it"),
        "{said}"
    );
}

on_both!(a_hand_settled_row_back_dated_with_its_queueing_is_named);
async fn a_hand_settled_row_back_dated_with_its_queueing_is_named() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 1)).await;
    // As if it had been queued and settled years before the chain began, with the
    // strongest proof there is.
    let (queued, settled) = match backend() {
        Backend::Sqlite => ("'2020-01-01 00:00:00.000'", "'2020-01-01 00:00:01.000'"),
        Backend::Postgres => ("'2020-01-01 00:00:00+00'", "'2020-01-01 00:00:01+00'"),
    };
    app.pool
        .execute(&format!(
            "UPDATE deletion_queue SET status = 'deleted', proof = 'listed_answered_gone',
                    enqueued_at = {queued}, settled_at = {settled}, checked_at = {settled}"
        ))
        .await
        .unwrap();
    let (code, said) = verify(&app).await;
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("with no chain entry"), "{said}");
    // With no proof claimed, still named: it was queued after proofs were recorded.
    app.pool
        .execute("UPDATE deletion_queue SET proof = NULL")
        .await
        .unwrap();
    let (code, said) = verify(&app).await;
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("with no chain entry"), "{said}");
}
