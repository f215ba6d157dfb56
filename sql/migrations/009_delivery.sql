-- Side effects that never hold back a measurement. A judgement of a cohort's moment (a
-- snapshot, or its close) is recorded once with what it asked for, so a retried judgement
-- writes nothing and hands on the same asks. A rule that cannot be judged is an alert in
-- state 'error' with its reason. Each outbox row belongs to one destination, whose delivery
-- workflow drains it in order and records every attempt: delivered, refused by the receiver
-- (a 4xx or a redirect, with the status), or expired after the destination's maximum age.

create table monitoring_judgements (
  cohort_id  text not null references cohorts (cohort_id),
  -- 'snapshot <id>' or 'close'
  moment     text not null,
  -- What the judgement asked for: the retraining evidence and the recalibration request (or null).
  asks       jsonb not null,
  created_at timestamptz not null default now(),
  primary key (cohort_id, moment)
);

alter table alerts drop constraint alerts_state_check;
alter table alerts add constraint alerts_state_check check (state in ('firing', 'resolved', 'retracted', 'error'));

alter table alert_notifications
  add column destination     text,
  add column state           text not null default 'pending' check (state in ('pending', 'delivered', 'refused', 'expired')),
  add column last_status     integer,
  add column last_attempt_at timestamptz;
update alert_notifications set state = 'delivered' where delivered_at is not null;
update alert_notifications set destination = 'webhook/' || md5(url);
alter table alert_notifications alter column destination set not null;
create index alert_notifications_destination_pending on alert_notifications (destination, created_at) where state = 'pending';
