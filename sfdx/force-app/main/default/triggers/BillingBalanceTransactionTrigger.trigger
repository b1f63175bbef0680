// Loop prevention and change events for BillingBalanceTransaction__c: see BillingSyncTrigger.
trigger BillingBalanceTransactionTrigger on BillingBalanceTransaction__c (before insert, before update, after insert, after update, after delete, after undelete) {
    BillingSyncTrigger.handle();
}
