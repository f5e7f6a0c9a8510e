

tHashTableV2
(
initInitializeTableFromTextFileV2t"í