-- The second security review (issue 19).
-- Mail is rendered by the delivery worker, outside any transaction: a
-- queued row keeps the kind's variables until then (cleared when settled,
-- like the bodies it replaces).
ALTER TABLE email_outbox ADD COLUMN variables TEXT;

-- Invitations can be revoked, and are voided when their invitee is added
-- or removed directly.
ALTER TABLE invitations DROP CONSTRAINT invitations_status_check;
ALTER TABLE invitations ADD CONSTRAINT invitations_status_check
    CHECK (status IN ('pending', 'accepted', 'revoked', 'voided'));
