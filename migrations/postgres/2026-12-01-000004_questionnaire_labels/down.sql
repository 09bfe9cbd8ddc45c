UPDATE questionnaires
SET definition = (definition::jsonb #- '{items,0,option_texts}' #- '{items,1,option_texts}')::text
WHERE code = 'satisfaction' AND version = 1
  AND definition::jsonb #> '{items,0,option_texts}' = '{"very_satisfied":"非常满意","satisfied":"满意","basically_satisfied":"基本满意","dissatisfied":"不满意","very_dissatisfied":"非常不满意"}'::jsonb;
