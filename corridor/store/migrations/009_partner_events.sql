-- `GET /v1/events`: a send partner reads its own sender callbacks by cursor (the outbox id).
CREATE INDEX outbox_partner_feed ON outbox (partner_id, kind, id);
