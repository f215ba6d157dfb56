-- Notifications queued before secrets were kept by reference stored the receiver's whole URL,
-- whose user info or query string may hold a credential. Sending reads the URL from the policy
-- (or the worker's environment), so the outbox keeps only scheme, host and path.
-- (\x3f is a question mark, which the migration runner would take for a binding.)
update alert_notifications
set url = regexp_replace(url, '^([A-Za-z][A-Za-z0-9+.-]*://)([^/\x3f#@]*@){0,1}([^/\x3f#]*)([^\x3f#]*).*$', '\1\3\4')
where url ~ '^[A-Za-z][A-Za-z0-9+.-]*://([^/\x3f#@]*@|[^\x3f#]*[\x3f#])';
