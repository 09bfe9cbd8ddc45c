UPDATE questionnaires
SET definition = json_remove(definition, '$.items[0].option_texts', '$.items[1].option_texts')
WHERE code = 'satisfaction' AND version = 1
  AND json_extract(definition, '$.items[0].option_texts') = json('{"very_satisfied":"非常满意","satisfied":"满意","basically_satisfied":"基本满意","dissatisfied":"不满意","very_dissatisfied":"非常不满意"}');
