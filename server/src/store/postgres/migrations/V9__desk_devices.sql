-- A manager's desk homes, one device each, known by the home's Automerge actor: each server
-- instance keeps its own desk home, and one device binds one actor, so a manager has a desk
-- device per instance. The desks registered one per manager by V3 move here with the actor
-- their device bound (NULL: it never synced).
CREATE TABLE desk_devices (
    device  uuid PRIMARY KEY,
    user_id text NOT NULL,
    actor   text,
    UNIQUE (user_id, actor)
);
INSERT INTO desk_devices (device, user_id, actor)
    SELECT k.device, k.user_id, d.actor FROM desks k LEFT JOIN devices d ON d.id = k.device;
DROP TABLE desks;
