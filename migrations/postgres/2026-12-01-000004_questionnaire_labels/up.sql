-- The seeded satisfaction questionnaire, version 1, gains display labels for its options
-- (option code → label), so that tablets show what the server serves instead of labels of
-- their own. Codes and which options count are unchanged; a definition that already has
-- labels, or was stored otherwise, is left alone.
UPDATE questionnaires
SET definition = jsonb_set(
    jsonb_set(definition::jsonb, '{items,0,option_texts}', '{"very_satisfied":"非常满意","satisfied":"满意","basically_satisfied":"基本满意","dissatisfied":"不满意","very_dissatisfied":"非常不满意"}'::jsonb),
    '{items,1,option_texts}', '{"aware":"知道","unaware":"不知道"}'::jsonb
)::text
WHERE code = 'satisfaction' AND version = 1
  AND definition::jsonb #>> '{items,0,code}' = 'satisfaction'
  AND definition::jsonb #>> '{items,1,code}' = 'awareness'
  AND definition::jsonb #> '{items,0,option_texts}' IS NULL
  AND definition::jsonb #> '{items,1,option_texts}' IS NULL;
