UPDATE rule_listings SET state = 'superseded', finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
 WHERE id = ?1
