UPDATE rule_listings SET state = 'superseded', finished_at = now() WHERE id = $1
