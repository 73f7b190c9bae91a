-- The chain's entries up to the anchor.
DELETE FROM settlement_chain WHERE seq <= (SELECT seq FROM settlement_anchor)
