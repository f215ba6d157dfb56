-- A promotion decided by a request (a recalibration workflow) carries its key: the request
-- promotes once, so a retry after the promotion committed cannot promote again over a later
-- decision (an operator's approval of another calibrator).
alter table calibrator_promotions add column request_key text;
create unique index calibrator_promotions_request_key on calibrator_promotions (request_key) where request_key is not null;
