-- Whether an anchor entry was recorded (none before the proofs' migration).
SELECT EXISTS (SELECT 1 FROM settlement_chain WHERE kind = 'anchor')
