

xPlaceholder

nÿÿÿÿÿÿÿÿÿÿ"í