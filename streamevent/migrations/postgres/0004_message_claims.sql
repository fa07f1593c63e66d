-- One row per message stored from a source that can deliver it again with other neighbours (a
-- Kafka partition re-read after a crash is cut into chunks at other offsets): the rows of a
-- message are written in the transaction that claims its msgId here, so each is stored once even
-- when the chunk around it is new. msgIds are UUIDv7: new keys land at the end of the index.
CREATE TABLE IF NOT EXISTS stream_msg (msg_id VARCHAR(64) PRIMARY KEY);
