-- ID-number masks keep only the 17th character (docs/security.md, "Masked ID numbers"):
-- the older mask kept the first four and the last four, which beside a record's village,
-- birth date and sex gave the whole number back. The older mask holds the 17th character
-- at the same place, so the new one is derived from it.
UPDATE residents SET id_masked = '****************' || substr(id_masked, 17, 1) || '*'
WHERE length(id_masked) = 18;
-- Field clashes on the ID number keep the masks of both sides (JSON objects as text).
UPDATE conflicts SET server_value = jsonb_set(server_value::jsonb, '{id_number}',
    to_jsonb('****************' || substr(server_value::jsonb ->> 'id_number', 17, 1) || '*'))::text
WHERE server_value LIKE '{%' AND length(server_value::jsonb ->> 'id_number') = 18;
UPDATE conflicts SET client_value = jsonb_set(client_value::jsonb, '{id_number}',
    to_jsonb('****************' || substr(client_value::jsonb ->> 'id_number', 17, 1) || '*'))::text
WHERE client_value LIKE '{%' AND length(client_value::jsonb ->> 'id_number') = 18;
