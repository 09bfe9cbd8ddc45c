-- ID-number masks keep only the 17th character (docs/security.md, "Masked ID numbers"):
-- the older mask kept the first four and the last four, which beside a record's village,
-- birth date and sex gave the whole number back. The older mask holds the 17th character
-- at the same place, so the new one is derived from it.
UPDATE residents SET id_masked = '****************' || substr(id_masked, 17, 1) || '*'
WHERE length(id_masked) = 18;
-- Field clashes on the ID number keep the masks of both sides.
UPDATE conflicts SET server_value = json_set(server_value, '$.id_number',
    '****************' || substr(json_extract(server_value, '$.id_number'), 17, 1) || '*')
WHERE json_valid(server_value) AND length(json_extract(server_value, '$.id_number')) = 18;
UPDATE conflicts SET client_value = json_set(client_value, '$.id_number',
    '****************' || substr(json_extract(client_value, '$.id_number'), 17, 1) || '*')
WHERE json_valid(client_value) AND length(json_extract(client_value, '$.id_number')) = 18;
